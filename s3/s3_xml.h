/* SPDX-License-Identifier: Apache-2.0 */
/* libxml2 helpers shared by the s3/ files that rewrite S3 XML bodies. */
#ifndef S3_XML_H
#define S3_XML_H

#include <libxml/tree.h>
#include <stddef.h>

#include "core/core_err.h"

/* Serialises doc with its XML declaration into a malloc'd string the caller frees with free(). */
enum core_err s3_xml_serialise(xmlDoc *doc, char **out, size_t *out_len) CORE_WARN_UNUSED;

#endif
