/* SPDX-License-Identifier: Apache-2.0 */
/* Locked, non-dumpable pages for key material, backed by mmap so that mlock covers only our own data. */
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kms/kms_secmem.h"

static size_t round_to_pages(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    return (len + page - 1) / page * page;
}

enum core_err kms_secmem_alloc(size_t len, void **out, bool *locked)
{
    size_t size;
    void *mem;

    CORE_ENSURE(out != NULL && locked != NULL && len > 0, CORE_INTERNAL);
    *out = NULL;
    *locked = false;
    size = round_to_pages(len);
    CORE_ENSURE(size >= len, CORE_NOMEM);

    /*
     * mmap instead of malloc: munlock works on whole pages and locks do not nest, so unlocking a malloc'd
     * block could also unlock a neighbour's key that shares its page.
     */
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CORE_ENSURE(mem != MAP_FAILED, CORE_NOMEM);

    /* best effort: a kernel without MADV_DONTDUMP still gives usable memory */
    (void)madvise(mem, size, MADV_DONTDUMP);
    *locked = mlock(mem, size) == 0;
    *out = mem;
    return CORE_OK;
}

void kms_secmem_free(void *ptr, size_t len)
{
    size_t size;

    if (ptr == NULL) {
        return;
    }
    size = round_to_pages(len);
    OPENSSL_cleanse(ptr, size);
    (void)munlock(ptr, size);
    (void)munmap(ptr, size);
}
