/* SPDX-License-Identifier: Apache-2.0 */
/* libxml2 helpers shared by the s3/ files that rewrite S3 XML bodies. */
#include "s3/s3_xml.h"

#include <stdlib.h>
#include <string.h>

enum core_err s3_xml_serialise(xmlDoc *doc, char **out, size_t *out_len)
{
    xmlChar *mem = NULL;
    int size = 0;
    char *copy;

    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    CORE_ENSURE(mem != NULL && size >= 0, CORE_NOMEM);

    /* a copy, so callers free every s3/ output the same way */
    copy = malloc((size_t)size + 1);
    if (copy == NULL) {
        xmlFree(mem);
        return CORE_NOMEM;
    }
    memcpy(copy, mem, (size_t)size);
    copy[size] = '\0';
    xmlFree(mem);
    *out = copy;
    *out_len = (size_t)size;
    return CORE_OK;
}
