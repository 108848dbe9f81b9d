/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal structures shared by the proxy's source files: a worker thread with
 * its event loop, a client connection, the request it is serving, and the
 * backend connection that request uses.
 */
#ifndef PROXY_H
#define PROXY_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <llhttp.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/core_err.h"
#include "crypto/crypto_envelope.h"
#include "crypto/crypto_multi.h"
#include "crypto/crypto_stream.h"
#include "kms/kms.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_keys.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_part_search.h"
#include "proxy/proxy_reader.h"
#include "proxy/proxy_reload.h"
#include "s3/s3_checksum.h"
#include "s3/s3_chunked.h"
#include "s3/s3_error.h"
#include "s3/s3_multipart.h"
#include "s3/s3_op.h"
#include "s3/s3_range.h"
#include "s3/s3_request.h"
#include "s3/s3_sigv4.h"
#include "s3/s3_ssec.h"

/* Limits on what a peer may send before s3seal gives up on it. */
#define PROXY_HEAD_MAX (64 * 1024)         /* request or response line plus headers */
#define PROXY_HEADERS_MAX 128              /* header fields per message */
#define PROXY_SMALL_BODY_MAX (2 * 1024 * 1024) /* bodies s3seal buffers: XML requests */
#define PROXY_LIST_BODY_MAX (16 * 1024 * 1024) /* listing responses s3seal rewrites */

/*
 * Flow control between the two sides of a stream. Output above
 * PROXY_LOW_WATER stops feeding it from the other side, and the feeding
 * resumes when the output has drained to PROXY_LOW_WATER, so an output
 * contains at most PROXY_LOW_WATER plus one chunk. An input buffer stops reading its
 * socket at PROXY_HIGH_WATER, and the kernel's socket buffers keep the rest.
 * A GET whose client reads slowly then keeps about 240 KiB: input, output,
 * one chunk buffer and allocator overhead. With 128 KiB inputs and outputs
 * fed up to 128 KiB it kept about 480 KiB, and transfers on loopback were
 * no faster (tests/bench/perf.sh, docs/PERFORMANCE.md).
 */
#define PROXY_HIGH_WATER (64 * 1024)
#define PROXY_LOW_WATER (16 * 1024)
/* bounds of the lingering close after an error response to a request whose body was not read */
#define PROXY_LINGER_IDLE_S 2
#define PROXY_LINGER_MAX_S 30
#define PROXY_LINGER_MAX_BYTES ((size_t)64 * 1024 * 1024)
/* most input bytes handed to llhttp at once; no more than one chunk, so one call completes at most one chunk */
#define PROXY_READ_SLICE (64 * 1024)

/*
 * Most bytes libevent writes to a client or backend socket per system call
 * (its default is 16 KiB). It is set as the read limit too, but libevent
 * 2.1.12 still reads at most 4 KiB per call when more is waiting, so
 * proxy_socket_read_more reads the rest.
 */
#define PROXY_SOCKET_IO_MAX (256 * 1024)
/* libevent 2.1's cap on one evbuffer_read (EVBUFFER_MAX_READ in its buffer.c) */
#define PROXY_LIBEVENT_READ_MAX 4096

struct proxy_upstream;
struct proxy_conn;

/* One thread, one event loop, one listening socket (SO_REUSEPORT). */
struct proxy_worker {
    int index;
    struct event_base *base;
    struct evconnlistener *listener; /* owned; NULL once the worker drains */
    struct proxy_generation *gen;   /* one reference; the configuration new requests pick up */
    const struct proxy_config *cfg; /* borrowed from gen */
    SSL_CTX *tls;                   /* borrowed from gen; NULL when the listener is plain HTTP */
    SSL_CTX *backend_tls;           /* borrowed; client context for an https:// backend, else NULL */
    pthread_mutex_t msg_lock;       /* guards pending_gen */
    bool msg_lock_ready;
    struct proxy_generation *pending_gen; /* one reference; a reload not yet taken by the loop */
    bool draining;                 /* stopped accepting; the loop ends with the last connection */
    atomic_bool loop_done;         /* set by the worker thread when its loop returned */
    struct event *drain_timer;     /* owned; cuts what runs at the drain deadline */
    struct proxy_conn *conns;      /* borrowed list of open client connections */
    size_t conn_count;
    struct kms_provider *kms;       /* borrowed; shared by all workers */
    struct proxy_upstream *idle;    /* owned list of idle keep-alive backend connections */
    struct sockaddr_storage backend_addr; /* resolved once at start-up */
    int backend_addr_len;
    size_t idle_count;
    pthread_t thread;
    evutil_socket_t stop_fds[2]; /* owned; the main thread writes to [1] to stop the loop */
    struct event *stop_event;    /* owned; reads stop_fds[0] */
    struct proxy_keys *keys;     /* borrowed; the KMS threads and data key cache shared by all workers */
    evutil_socket_t keys_fds[2]; /* owned; KMS threads write to [1] when a call finished */
    struct event *keys_event;    /* owned; reads keys_fds[0] */
    pthread_mutex_t keys_lock;   /* guards keys_done */
    bool keys_lock_ready;
    struct proxy_key_job *keys_done; /* finished KMS calls not yet handed to their requests */
    struct proxy_metrics *metrics;   /* owned; written only by this worker's thread */
};

/* Growable storage for a message head; fields are offsets so it can grow. */
struct proxy_head {
    char *data; /* owned */
    size_t len;
    size_t cap;
    size_t url_off, url_len;      /* request target, or the status text of a response */
    size_t name_off[PROXY_HEADERS_MAX];
    size_t name_len[PROXY_HEADERS_MAX];
    size_t value_off[PROXY_HEADERS_MAX];
    size_t value_len[PROXY_HEADERS_MAX];
    size_t count;
    bool in_value;
    bool too_large;    /* the head passed max_len */
    bool too_many;     /* the fields passed max_count */
    bool url_too_long; /* the request target passed max_url */
    size_t max_len;    /* 0: PROXY_HEAD_MAX */
    size_t max_count;  /* 0: PROXY_HEADERS_MAX; never above it */
    size_t max_url;    /* 0: no limit of its own */
    struct s3_header views[PROXY_HEADERS_MAX]; /* filled by proxy_head_finish */
};

enum proxy_body_mode {
    PROXY_BODY_NONE = 0, /* no request body */
    PROXY_BODY_BUFFER,   /* small body: buffered, verified, then sent */
    PROXY_BODY_SEAL,     /* object body: encrypted chunk by chunk on its way */
    PROXY_BODY_DISCARD,  /* body of a request s3seal already sent a response to */
    PROXY_BODY_PLAIN,    /* object body an operator rule keeps unencrypted: streamed, last bytes held back */
};

enum proxy_response_mode {
    PROXY_RESPONSE_PASS = 0, /* forwarded unchanged */
    PROXY_RESPONSE_COLLECT,  /* a small XML body s3seal reads or rewrites before responding */
    PROXY_RESPONSE_DEFER,    /* a backend error kept for the client until the upload is aborted */
    PROXY_RESPONSE_DISCARD,  /* read and dropped: s3seal sends the request again */
    PROXY_RESPONSE_OPEN,     /* encrypted object body: verified and decrypted */
    PROXY_RESPONSE_HEAD,     /* encrypted object HEAD: plaintext size and headers */
    PROXY_RESPONSE_LIST,     /* listing: buffered, sizes rewritten */
    PROXY_RESPONSE_PART_PROBE, /* a chunk header read to find a part: kept, never sent */
};

/*
 * The backend request of a client request that is in flight. A PutObject runs
 * CREATE, PART and COMPLETE, so every stored object is a backend multipart
 * upload; ABORT removes the upload when anything fails on the way.
 */
enum proxy_step {
    PROXY_STEP_DIRECT = 0, /* the client's own operation */
    PROXY_STEP_CREATE,     /* CreateMultipartUpload with the envelope as metadata */
    PROXY_STEP_PART,       /* UploadPart 1 with the sealed body */
    PROXY_STEP_COMPLETE,   /* CompleteMultipartUpload */
    PROXY_STEP_ABORT,      /* AbortMultipartUpload, then the deferred response */
    PROXY_STEP_CHECK_PARTS, /* ListParts before a client's CompleteMultipartUpload */
    PROXY_STEP_COPY_HEAD,   /* HeadObject of a CopyObject source, for its envelope */
    PROXY_STEP_PART_COPY,   /* UploadPartCopy of the source's ciphertext */
};

/*
 * The largest part of a copy: S3 copies at most 5 GiB per UploadPartCopy,
 * and a part boundary falls between chunks so no chunk is split.
 */
#define PROXY_COPY_PART_MAX (81875ULL * 65572ULL)

/* A CopyObject: the body is copied by the backend, the data key is wrapped again for the new name. */
struct proxy_copy {
    char *source_bucket;             /* owned; decoded */
    char *source_key;                /* owned; decoded */
    size_t source_key_len;
    char source_version[256];        /* versionId of the source, or empty */
    char *copy_source;               /* owned; x-amz-copy-source value sent to the backend */
    bool replace_metadata;           /* x-amz-metadata-directive: REPLACE */
    struct proxy_head source_head;   /* owned; the source's HEAD response, for COPY */
    uint64_t stored_size;            /* ciphertext bytes of the source */
    char source_etag[80];
    uint32_t part_count;
    uint32_t parts_done;
    char (*part_etags)[80];          /* owned; one per part copied */

    /*
     * A source s3seal reads itself and seals again under the destination's
     * key: an object s3seal did not encrypt, or the part of an UploadPartCopy.
     */
    bool read_through;
    bool source_encrypted;
    uint64_t source_first;           /* plaintext range of the source to copy */
    uint64_t source_last;
    struct proxy_reader reader;      /* owned; skip and remaining also serve a plaintext source */

    uint8_t source_dek[KMS_DEK_LEN]; /* the source's data key once source_key_ready; wiped on free */
    bool source_key_ready;
    bool key_wait; /* a KMS call runs; the source's HEAD is asked again when it ends */
};

/* The way a GetObject with a Range header is fetched from the backend. */
enum proxy_fetch {
    PROXY_FETCH_DIRECT = 0, /* the client's request as it is (no range, or a plaintext object) */
    PROXY_FETCH_WHOLE,      /* the whole object, for a Range that S3 ignores */
    PROXY_FETCH_CHUNKS,     /* the ciphertext chunks that cover the range */
    PROXY_FETCH_PROBE,      /* a HEAD to learn the plaintext size after the backend returned 416 */
    PROXY_FETCH_PART_PROBE, /* the 20-byte header of one stored chunk, to find a part (proxy_part.c) */
};

/* One client request and everything s3seal keeps for it. */
struct proxy_request {
    struct proxy_conn *conn; /* borrowed back-pointer */
    struct proxy_generation *gen;   /* one reference, taken when the request starts */
    const struct proxy_config *cfg; /* borrowed from gen: the request reads its settings here */
    struct proxy_key_job *key_job; /* the request's KMS call, running or finished; see proxy_keys.h */
    bool key_ready;                /* key_dek (and for a new key, key_wrapped) hold the data key */
    bool reader_key_wait;          /* a GET waits for its data key; the backend response waits unread */
    struct crypto_envelope *reader_env; /* owned while reader_key_wait: the envelope to open */
    uint64_t reader_first_chunk;
    bool key_wait;                 /* the request head waits for a KMS call */
    uint8_t key_dek[KMS_DEK_LEN];  /* wiped when the request ends */
    struct proxy_wrapped_key key_wrapped;
    struct s3_ssec ssec;      /* the client's SSE-C key for the object; wiped when the request ends */
    struct s3_ssec copy_ssec; /* the client's SSE-C key for a copy's source */
    bool ssec_object;         /* the object read or written is wrapped under ssec, so responses carry the SSE-C headers */
    char id[17];             /* request id, also sent as x-amz-request-id */
    struct proxy_head head;  /* owned */
    struct s3_request s3;    /* views into head */
    struct s3_target target; /* owned */
    struct s3_auth auth;     /* owned; wiped at the end */
    const char *method;      /* static string from llhttp */
    const char *upstream_method; /* method sent to the backend; differs from method for a probe */
    bool is_head_method;
    bool keep_alive;
    bool expect_continue;
    bool has_body;
    uint64_t content_length;

    /* request body */
    enum proxy_body_mode body_mode;
    bool body_done;       /* the whole client body was read */
    struct evbuffer *small_body; /* owned; PROXY_BODY_BUFFER */
    EVP_MD_CTX *sha256;   /* owned; set when the client signed the payload hash */
    EVP_MD_CTX *md5;      /* owned; set when the client sent Content-MD5 */
    uint8_t content_md5[16];
    struct s3_chunked *chunked; /* owned; decoder of an aws-chunked body, or NULL */
    uint64_t plain_expected;    /* plaintext body length: x-amz-decoded-content-length or Content-Length */
    uint64_t plain_received;
    struct s3_checksum checksum; /* owned; the x-amz-checksum-* the client sent, over the plaintext */
    char checksum_header[40];    /* its header name, empty when the client sent none */
    char checksum_expected[S3_CHECKSUM_BASE64_MAX]; /* from the header; empty when it comes as a trailer */
    char checksum_value[S3_CHECKSUM_BASE64_MAX];    /* computed; echoed in the PutObject response */
    char computed_md5[25];       /* base64 Content-MD5 of a buffered body, sent to the backend */
    struct crypto_stream seal; /* owned; PROXY_BODY_SEAL */
    struct crypto_envelope_headers *envelope; /* owned; metadata for the sealed object */
    uint8_t *plain;       /* one chunk of plaintext being gathered, in cipher after the header */
    size_t plain_fill;
    uint8_t *cipher;      /* owned; one sealed chunk */
    size_t cipher_cap;    /* bytes allocated at cipher: one chunk of this body at most */
    size_t cipher_held;   /* bytes of the final sealed chunk not yet sent */
    bool body_verified;   /* every check over the whole body passed */
    bool plaintext_write; /* an operator rule stores this object unencrypted */
    struct evbuffer *holdback; /* owned; PROXY_BODY_PLAIN bytes waiting for the body to verify */
    uint64_t body_received;

    /* multipart uploads, s3seal's own for a PutObject and the client's */
    enum proxy_step step;
    enum proxy_step next_step;      /* started once the current backend response ended */
    char backend_upload_id[1024];   /* the backend's id of the upload in use */
    uint32_t part_number;           /* chunk header part number of the body being sealed */
    char part_etag[80];             /* backend ETag of s3seal's single part */
    struct crypto_envelope_headers *multipart_envelope; /* owned; CreateMultipartUpload of a client */
    struct evbuffer *collect;       /* owned; a small backend response body */
    struct evbuffer *deferred;      /* owned; response for the client, sent after ABORT */
    struct evbuffer *step_body;     /* owned; body of a request s3seal makes itself */
    bool body_blocked;              /* client body waits until the backend request for it is open */
    bool part_waiting;              /* the empty part waits for the client's body to verify */
    enum s3_error_code pending_error; /* answer found inside a parser callback, sent after it returns */
    char pending_message[160];
    char upload_kms_id[KMS_KEY_ID_MAX];       /* KMS id of the upload's wrapped data key */
    uint8_t upload_wrapped[KMS_WRAPPED_MAX];  /* the upload's wrapped data key; not secret */
    size_t upload_wrapped_len;
    struct s3_complete_parts complete_parts;  /* owned; parts named by a client's CompleteMultipartUpload */
    struct proxy_copy *copy;                  /* owned; CopyObject only */

    /* upstream side */
    struct proxy_upstream *up; /* owned while the request runs */
    struct proxy_upstream *source_up; /* owned; reads a copy source through s3seal */
    bool upstream_sent_all;    /* every request byte is queued to the backend */

    /* ranged reads */
    struct s3_range range;   /* the client's Range on GetObject and HeadObject */
    uint32_t part_request;   /* partNumber of a GetObject or HeadObject, 0 when absent */
    struct proxy_part_search part; /* where that part lies in a client's multipart object */
    enum proxy_fetch fetch;
    int fetch_attempts;
    bool retry_pending;      /* ask the backend again once this response ended */
    char content_range[80];  /* Content-Range sent with a 416 response */

    /* response */
    enum proxy_response_mode response_mode;
    int status;
    bool response_started; /* a status line went to the client */
    bool response_done;
    bool response_chunked; /* s3seal frames the body to the client with chunked encoding */
    struct evbuffer *pending_head; /* owned; response head held back until the first chunk verified */
    struct evbuffer *list_body;    /* owned; PROXY_RESPONSE_LIST */
    struct proxy_reader reader;    /* owned; PROXY_RESPONSE_OPEN */
    struct proxy_request_obs obs;  /* timing, status and end cause for the access log and metrics */
};

enum proxy_conn_state {
    PROXY_CONN_READING_HEAD = 0,
    PROXY_CONN_READING_BODY,
    PROXY_CONN_WAITING_RESPONSE, /* client body done; the response is on its way */
    PROXY_CONN_CLOSING,          /* flush output, then close */
};

/* A client connection. */
struct proxy_conn {
    struct proxy_worker *worker; /* borrowed */
    struct bufferevent *bev;     /* owned */
    llhttp_t parser;
    llhttp_settings_t settings;
    enum proxy_conn_state state;
    struct proxy_request *req; /* owned; the request being served, or NULL */
    bool paused_for_upstream;  /* reading stopped until the backend output drains */
    bool in_parser;            /* inside llhttp_execute: frees are deferred */
    bool dead;                 /* free at the next safe point */
    bool over_limit;           /* accepted beyond S3SEAL_MAX_CONNECTIONS: answered with 503 SlowDown */
    struct event *timer;       /* owned; keep-alive idle or request header deadline */
    struct proxy_conn *prev;   /* the worker's connection list */
    struct proxy_conn *next;
    bool client_gone;          /* the client left; the request only finishes its backend cleanup */
    bool linger;               /* after the last response, read and drop the unread request body */
    time_t linger_until;       /* when lingering ends even if the client keeps sending */
    size_t linger_dropped;     /* request bytes dropped while lingering */
    char peer[64];
    struct proxy_conn_obs obs; /* byte counters for the access log and metrics */
};

/* A connection to the backend. */
struct proxy_upstream {
    struct proxy_worker *worker;  /* borrowed */
    struct bufferevent *bev;      /* owned */
    llhttp_t parser;
    llhttp_settings_t settings;
    struct proxy_request *req;    /* borrowed; NULL while idle */
    struct proxy_head head;       /* owned; the response head */
    struct proxy_upstream *next;  /* idle list link */
    bool connected;
    bool reusable;
    bool in_parser;
    bool paused_for_client;
    bool release_pending; /* released inside a parser callback; finished after llhttp_execute */
    bool is_source;       /* reads the source of a copy; its body feeds the request's sealing */
    bool release_reusable;
    bool paused_for_key;  /* the response waits unread for its data key; see proxy_upstream_continue */
    bool sent_head;       /* the request sent was a HEAD, so its response has no body */
    bool reused;          /* taken from the idle pool for this request */
    bool replayable;      /* the request sent was a head alone, so it can be sent again */
    bool response_begun;  /* a byte of the response arrived */
    enum s3_error_code failure; /* set by a parser callback that gave up on the response */
};

/* proxy_head.c */
void proxy_head_reset(struct proxy_head *h);
void proxy_head_cleanup(struct proxy_head *h);
int proxy_head_on_url(struct proxy_head *h, const char *at, size_t len);
int proxy_head_on_field(struct proxy_head *h, const char *at, size_t len);
int proxy_head_on_value(struct proxy_head *h, const char *at, size_t len);
void proxy_head_finish(struct proxy_head *h);
/* Sets the limits of a request head; values above PROXY_HEAD_MAX and PROXY_HEADERS_MAX are lowered to them. */
void proxy_head_set_limits(struct proxy_head *h, size_t max_len, size_t max_count, size_t max_url);
/* True when the head was refused for its size, its field count or the length of its target. */
bool proxy_head_over_limit(const struct proxy_head *h);
const struct s3_header *proxy_head_find(const struct proxy_head *h, const char *lower_name);
bool proxy_header_is(const struct s3_header *hd, const char *lower_name);
bool proxy_header_has_prefix(const struct s3_header *hd, const char *lower_prefix);

/* proxy_conn.c */
void proxy_conn_accept(struct proxy_worker *w, evutil_socket_t fd, const struct sockaddr *addr, int addr_len);
void proxy_conn_send_error(struct proxy_request *req, enum s3_error_code code, const char *message,
                           const struct s3_error_extra *extra, size_t extra_count);
enum core_err proxy_conn_format_error(struct proxy_request *req, struct evbuffer *out, enum s3_error_code code,
                                      const char *message, const struct s3_error_extra *extra,
                                      size_t extra_count) CORE_WARN_UNUSED;
void proxy_conn_response_done(struct proxy_conn *c);
void proxy_conn_abort(struct proxy_conn *c, const char *why);
void proxy_conn_resume_reading(struct proxy_conn *c);
void proxy_conn_maybe_free(struct proxy_conn *c);
/* Closes the connection and frees it at once; only from a callback outside the connection's own chains. */
void proxy_conn_close(struct proxy_conn *c);
struct evbuffer *proxy_conn_output(struct proxy_conn *c);
void proxy_add_date_header(struct evbuffer *out);
void proxy_bufferevent_tune(struct bufferevent *bev);
void proxy_socket_read_more(struct bufferevent *bev);

/* proxy_life.c: connection limits, client timeouts, graceful stop and configuration swaps */
enum core_err proxy_life_worker_init(struct proxy_worker *w) CORE_WARN_UNUSED;
void proxy_life_worker_cleanup(struct proxy_worker *w);
/* Runs on the worker's loop when the main thread wrote command byte cmd to the worker's stop socket. */
void proxy_life_on_command(struct proxy_worker *w, char cmd);
/* Hands gen (a new reference) to the worker; the main thread then writes PROXY_CMD_RELOAD. */
void proxy_life_post_generation(struct proxy_worker *w, struct proxy_generation *gen);
/* False when the worker holds so many connections that fd is closed unanswered. */
bool proxy_life_accept_allowed(const struct proxy_worker *w);
void proxy_life_conn_added(struct proxy_conn *c);
void proxy_life_conn_removed(struct proxy_conn *c);
/* The connection waits for its next request: the keep-alive timer runs, or it closes while draining. */
void proxy_life_wait_request(struct proxy_conn *c);
/* A request's first byte arrived: takes the configuration and starts the header timer. */
void proxy_life_request_started(struct proxy_conn *c);
void proxy_life_head_done(struct proxy_conn *c);
/* Answers a request on a connection beyond the limit with 503 SlowDown; true when it did. */
bool proxy_life_refuse_busy(struct proxy_request *req);
/* Answers a head refused for a limit; true when the head was refused for one. */
bool proxy_life_reject_head(struct proxy_request *req);
/* Handles a read timeout of the client bufferevent; true when the connection lives on. */
bool proxy_life_on_read_timeout(struct proxy_conn *c);

#define PROXY_CMD_STOP 's'   /* leave the loop at once */
#define PROXY_CMD_DRAIN 'd'  /* stop accepting, finish what runs, then leave */
#define PROXY_CMD_RELOAD 'r' /* take the posted configuration */
#define PROXY_CMD_CUT 'c'    /* while draining: cut what runs now, as at the drain deadline */

/* proxy_forward.c */
enum core_err proxy_forward_start(struct proxy_request *req) CORE_WARN_UNUSED;
void proxy_forward_retry(struct proxy_request *req);
void proxy_forward_send_held(struct proxy_request *req);
enum core_err proxy_forward_source(struct proxy_request *req) CORE_WARN_UNUSED;
const char *proxy_forward_method(const struct proxy_request *req);

/* proxy_copy.c */
enum core_err proxy_copy_prepare(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;
enum core_err proxy_copy_source_head(struct proxy_request *req, struct proxy_upstream *up) CORE_WARN_UNUSED;
enum core_err proxy_copy_part_finish(struct proxy_request *req, const char *xml, size_t len) CORE_WARN_UNUSED;
enum core_err proxy_copy_result(struct proxy_request *req) CORE_WARN_UNUSED;
enum core_err proxy_copy_read_head(struct proxy_request *req, struct proxy_upstream *up) CORE_WARN_UNUSED;
enum core_err proxy_copy_read_body(struct proxy_request *req, const uint8_t *data, size_t len) CORE_WARN_UNUSED;
enum core_err proxy_copy_read_finish(struct proxy_request *req) CORE_WARN_UNUSED;
enum core_err proxy_copy_part_result(struct proxy_request *req, struct proxy_upstream *up) CORE_WARN_UNUSED;
void proxy_copy_start_read(struct proxy_request *req);
void proxy_copy_free(struct proxy_copy *copy);

/* proxy_upload.c */
enum core_err proxy_upload_response_head(struct proxy_request *req, struct proxy_upstream *up,
                                         bool *handled) CORE_WARN_UNUSED;
enum core_err proxy_upload_response_finish(struct proxy_request *req) CORE_WARN_UNUSED;
bool proxy_upload_abort_instead(struct proxy_request *req);
void proxy_upload_next(struct proxy_request *req);
void proxy_upload_add_version_id(const struct proxy_request *req, struct evbuffer *out);
enum core_err proxy_upload_multipart_etag(const char (*part_etags)[80], size_t count, char *out,
                                          size_t cap) CORE_WARN_UNUSED;
enum core_err proxy_upload_prepare_id(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;
enum core_err proxy_upload_collect(struct proxy_request *req, const uint8_t *data, size_t len) CORE_WARN_UNUSED;
/*
 * Gets the data key of the upload an UploadPart or UploadPartCopy names, into req->key_dek. Returns
 * CORE_AGAIN while a KMS call runs (ready runs when it ends); sets *error on failure.
 */
enum core_err proxy_upload_fetch_part_key(struct proxy_request *req, enum s3_error_code *error,
                                          proxy_keys_ready_fn ready) CORE_WARN_UNUSED;
enum core_err proxy_upload_prepare_part(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;
enum core_err proxy_upload_prepare_create(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;
void proxy_upload_cleanup(struct proxy_request *req);

/* proxy_body.c */
enum core_err proxy_body_prepare(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;

/*
 * Gets the data key the request's body is sealed under: a new one for PutObject, CopyObject and
 * CreateMultipartUpload, the upload's for UploadPart and UploadPartCopy. Returns CORE_OK with
 * req->key_ready set, CORE_AGAIN while a KMS call runs (ready runs when it ends and the caller calls this
 * again), or an error with *error set. Other operations need no key and get CORE_OK.
 */
enum core_err proxy_body_fetch_key(struct proxy_request *req, enum s3_error_code *error, proxy_keys_ready_fn ready)
    CORE_WARN_UNUSED;
enum core_err proxy_body_feed(struct proxy_request *req, const uint8_t *data, size_t len,
                              enum s3_error_code *error) CORE_WARN_UNUSED;
enum core_err proxy_body_finish(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;
void proxy_body_cleanup(struct proxy_request *req);
enum core_err proxy_body_plaintext(struct proxy_request *req, const uint8_t *data, size_t len) CORE_WARN_UNUSED;
enum core_err proxy_body_prepare_copy(struct proxy_request *req, enum s3_error_code *error) CORE_WARN_UNUSED;

/* proxy_upstream.c */
enum core_err proxy_upstream_acquire(struct proxy_worker *w, struct proxy_request *req,
                                     struct proxy_upstream **out) CORE_WARN_UNUSED;
struct evbuffer *proxy_upstream_output(struct proxy_upstream *up);
void proxy_upstream_release(struct proxy_upstream *up, bool reusable);
void proxy_upstream_resume_reading(struct proxy_upstream *up);
/* Parses the response that waited for its data key (paused_for_key) and reads from the backend again. */
void proxy_upstream_continue(struct proxy_upstream *up);
void proxy_upstream_drop_pool(struct proxy_worker *w);

/* proxy_upstream_tls.c */
/*
 * Builds the client TLS context for an https:// backend: TLS 1.2 or newer, and
 * certificate verification against S3SEAL_BACKEND_CA_FILE or the system store
 * unless S3SEAL_BACKEND_TLS_INSECURE is on, which it logs as a warning. Returns
 * CORE_CONFIG, after logging why, when the CA certificates cannot be loaded.
 * The caller owns *out.
 */
enum core_err proxy_upstream_tls_new(const struct proxy_config *cfg, SSL_CTX **out) CORE_WARN_UNUSED;
/*
 * Makes an unconnected OpenSSL bufferevent on w's loop for a backend
 * connection, with SNI and the host name or IP address check of the backend
 * URL. The caller owns *out; freeing it closes the socket and frees the SSL.
 */
enum core_err proxy_upstream_tls_bev(struct proxy_worker *w, struct bufferevent **out) CORE_WARN_UNUSED;
/* Returns a client SSL of ctx for cfg's backend, with SNI and the name check set, or NULL; the caller frees it. */
SSL *proxy_upstream_tls_ssl(SSL_CTX *ctx, const struct proxy_config *cfg);
/*
 * Writes why the TLS connection of bev failed, the certificate verification
 * error first. Returns false when OpenSSL reported nothing, so the failure was
 * below TLS (a refused or reset TCP connection).
 */
bool proxy_upstream_tls_describe(struct bufferevent *bev, char *out, size_t cap);
/* Logs the protocol and cipher of a finished handshake at debug level. */
void proxy_upstream_tls_log_connected(const struct proxy_worker *w, struct bufferevent *bev);

/* proxy_part.c */
enum core_err proxy_part_head(struct proxy_request *req, struct proxy_upstream *up, const struct crypto_envelope *env,
                              bool present) CORE_WARN_UNUSED;
enum core_err proxy_part_body(struct proxy_request *req, const uint8_t *data, size_t len) CORE_WARN_UNUSED;
enum core_err proxy_part_finish(struct proxy_request *req) CORE_WARN_UNUSED;
void proxy_part_add_count(const struct proxy_request *req, struct evbuffer *out);

/* proxy_response.c */
enum core_err proxy_response_retry(struct proxy_request *req, enum proxy_fetch fetch) CORE_WARN_UNUSED;
bool proxy_response_content_range(const struct proxy_head *h, uint64_t *first, uint64_t *total);
void proxy_response_log_integrity(const struct proxy_request *req, const char *what);
void proxy_response_add_encryption_header(struct evbuffer *out, const struct proxy_request *req);
enum core_err proxy_response_parse_envelope(const struct proxy_upstream *up, struct crypto_envelope *env,
                                            bool *present) CORE_WARN_UNUSED;
void proxy_response_write_head(struct evbuffer *out, struct proxy_request *req,
                               const struct proxy_upstream *up, bool encrypted, const char *reason);
enum core_err proxy_response_head(struct proxy_request *req, struct proxy_upstream *up) CORE_WARN_UNUSED;
enum core_err proxy_response_body(struct proxy_request *req, const uint8_t *data, size_t len) CORE_WARN_UNUSED;
enum core_err proxy_response_finish(struct proxy_request *req) CORE_WARN_UNUSED;
void proxy_response_cleanup(struct proxy_request *req);

#endif
