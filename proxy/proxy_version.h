/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The output of "s3seal --version": the s3seal version, the commit it was
 * built from, the build type, and the versions of the libraries it runs with.
 * A container or package may run other library versions than the build
 * machine had, so both are printed where they can differ.
 */
#ifndef PROXY_VERSION_H
#define PROXY_VERSION_H

#include <stdio.h>

/* Prints the version line and one "name: value" line per build fact and library. */
void proxy_version_print(FILE *out);

#endif
