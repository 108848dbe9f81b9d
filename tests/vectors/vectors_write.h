/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Known-answer vectors of format version 1, shared by the generator that
 * writes format-v1.json and the unit test that compares the checked-in file
 * with a fresh run.
 */
#ifndef VECTORS_WRITE_H
#define VECTORS_WRITE_H

#include <stdio.h>

#include "core/core_err.h"

/* Derives every vector from fixed inputs with crypto/ and writes the JSON document to out. */
enum core_err vectors_write(FILE *out) CORE_WARN_UNUSED;

#endif
