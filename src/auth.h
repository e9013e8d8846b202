/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * auth: OAuth 2 access tokens for BigQuery.  The `credentials` setting
 * picks the source: a JSON key file (service_account: an RS256 JWT
 * signed with libcrypto and exchanged at the token URI; authorized_user:
 * a refresh-token grant; external_account: Workload Identity Federation,
 * a subject token from a file or a URL traded at the STS, then, with an
 * impersonation URL, at IAM Credentials generateAccessToken;
 * impersonated_service_account: a service_account or authorized_user
 * source's token traded likewise), `metadata` (the GCE/GKE metadata
 * server, host from $GCE_METADATA_HOST), `command:CMD` (/bin/sh -c
 * CMD, the first line of its output is the token), or `auto` (Google's
 * ADC order: $GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * application_default_credentials.json, the metadata server).
 *
 * auth_new() reads and checks the key file (a file readable by group or
 * others is refused, and so is a token URI, the config's or the file's,
 * that is not https unless its host is a loopback one; the STS and
 * impersonation URLs likewise, a credential_source URL may also be plain
 * http to a link-local host) and returns NULL, after logging, on a config
 * error; a subject token is read at each exchange, not here.
 * auth_token() returns 0 with a token valid until the next auth_* call,
 * -1 when the token service failed in a way worth retrying later, -2
 * when the credentials themselves are unusable.  Tokens are cached until
 * AUTH_EARLY seconds before they expire; auth_invalidate() drops the
 * cached one after the API answered 401.  auth_error() says why the last
 * auth_token() failed (a -2 is also logged as a warning, a -1 only at
 * -v).  No token, key or secret is ever logged.  Nothing here exits.
 */
#ifndef HS_AUTH_H
#define HS_AUTH_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "http.h"

#define AUTH_SCOPE	"https://www.googleapis.com/auth/bigquery"
#define AUTH_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define AUTH_METADATA_HOST "metadata.google.internal"
#define AUTH_EARLY	60	/* refresh this long before expiry */
#define AUTH_JWT_LIFE	3600
#define AUTH_COMMAND_LIFE 300	/* a command's token: its age is unknown */

struct auth;

struct auth	*auth_new(const struct conf *, struct http *);
int		 auth_token(struct auth *, const char **);
void		 auth_invalidate(struct auth *);
const char	*auth_describe(const struct auth *);
const char	*auth_error(const struct auth *);
void		 auth_free(struct auth *);

/* The pure parts, for the unit tests. */
char		*auth_base64url(const void *, size_t);
char		*auth_jwt(const char *, const char *, const char *,
		    const char *, const char *, time_t);
int		 auth_parse_token(const char *, size_t, char **, long *,
		    char **);
int		 auth_parse_rfc3339(const char *, time_t *);
int		 auth_parse_iam(const char *, size_t, char **, time_t *,
		    char **);
int		 auth_parse_subject(const char *, size_t, const char *, char **,
		    char **);

#endif
