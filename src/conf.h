/* Copyright (c) 2026 The hookspool authors.  ISC license: see LICENSE. */
/*
 * conf: the configuration file (INI, parsed with libinih) and the table of
 * settings with their defaults.  conf_load() returns the configuration,
 * or NULL after logging "file:line: message"; it refuses a file that holds
 * a secret and is readable by others, a file writable by others or owned
 * by neither root nor the running user, and any line inih would change (an
 * inline ';' comment, a line longer than its buffer, a NUL byte).
 * Durations are kept in seconds, sizes in bytes.  Nothing here exits.
 */
#ifndef HS_CONF_H
#define HS_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum conf_sync {
	CONF_SYNC_ALWAYS,
	CONF_SYNC_BATCH,
	CONF_SYNC_NONE
};

enum conf_response {
	CONF_RESP_JSON,
	CONF_RESP_EMPTY,
	CONF_RESP_PIXEL,
	CONF_RESP_FILE
};

enum conf_sig {
	CONF_SIG_NONE,
	CONF_SIG_HMAC_SHA256,
	CONF_SIG_STRIPE,
	CONF_SIG_STANDARD
};

enum conf_sig_encoding {
	CONF_SIGENC_HEX,
	CONF_SIGENC_BASE64
};

enum conf_sig_covers {
	CONF_SIGCOV_BODY,
	CONF_SIGCOV_QUERY
};

enum conf_sig_policy {
	CONF_SIGPOL_REJECT,
	CONF_SIGPOL_RECORD
};

/* Where a stream reads the sender's delivery id (delivery.h). */
enum conf_did {
	CONF_DID_OFF,
	CONF_DID_AUTO,		/* resolved by conf_load: never seen after */
	CONF_DID_HEADER,
	CONF_DID_JSON,
	CONF_DID_FORM,
	CONF_DID_QUERY,
	CONF_DID_STANDARD,
	CONF_DID_GITHUB,
	CONF_DID_SHOPIFY,
	CONF_DID_STRIPE
};

/* HTTP methods as a bit set. */
#define CONF_M_GET	0x01
#define CONF_M_HEAD	0x02
#define CONF_M_POST	0x04
#define CONF_M_PUT	0x08
#define CONF_M_OPTIONS	0x10

#define CONF_MAX_COLUMNS 16
#define CONF_MAX_CLUSTER 4	/* BigQuery's limit of clustering columns */

struct tz;

struct conf_stream {
	char		*name;		/* [stream NAME]; also the spool folder */
	char		*id;		/* secret path token */
	char		*table;		/* project.dataset.table */
	int		 utc_offset;	/* minutes east of UTC */
	char		*utc_offset_str;
	struct tz	*tz;		/* an IANA zone; NULL: utc_offset */
	int		 columns[CONF_MAX_COLUMNS]; /* optional, enum hit_col */
	size_t		 ncolumns;
	/* Table options, used when the uploader creates the table. */
	long		 partition_expiration; /* seconds, 0: never */
	int		 require_partition_filter;
	char		*clustering;	/* as written */
	int		 cluster[CONF_MAX_CLUSTER]; /* hit.h enum */
	size_t		 ncluster;
	char		*table_description;
	size_t		 max_body;
	unsigned	 methods;
	enum conf_response response;
	char		*response_file;
	char		*response_content_type;
	char		*response_body;	/* file: contents, read at load */
	size_t		 response_len;
	char		*token;
	enum conf_sig	 signature;
	char		*signature_header;
	enum conf_sig_encoding signature_encoding;
	char		*signature_prefix;
	char		*signature_secret;
	size_t		 signature_secret_len;
	char		*signature_secret_file;
	int		 signature_secret_line; /* where either was set */
	enum conf_sig_policy signature_policy;
	enum conf_sig_covers signature_covers;	/* of a GET or HEAD */
	long		 signature_tolerance;
	char		*cors_origin;
	char		*delivery_id;	/* as configured */
	enum conf_did	 did;		/* ... parsed */
	const char	*did_arg;	/* in delivery_id: NAME, /pointer */
	long		 dedup_window;	/* seconds; 0: off */
	int		 line;		/* where the section starts */
};

struct conf {
	char		*path;
	char		*spool_dir;
	enum conf_sync	 sync;
	size_t		 preallocate;	/* padding ahead of an open batch */
	size_t		 batch_max_bytes;
	unsigned long	 batch_max_hits;
	long		 batch_max_age;
	uint64_t	 min_free_space;
	char		*credentials;
	char		*project;
	char		*location;
	char		*api_base;
	char		*token_uri;
	unsigned long	 jobs_per_table_per_day;
	long		 keep_done;
	unsigned long	 threads;	/* responder worker threads */
	long		 body_timeout;	/* a request body arrives within */
	uint64_t	 job_max_bytes;	/* one load job at most */
	size_t		 multipart_max;	/* above: resumable upload */
	size_t		 chunk_size;	/* resumable chunk, n x 256 KiB */
	long		 http_timeout;
	long		 job_timeout;	/* give up polling, retry next run */
	char		*ca_file;
	char		*base_url;	/* public URL prefix (stream add) */
	long		 health_max_age; /* 0: off */
	int		 health_details; /* the error in the health URL */
	int		 metrics;	/* serve <mount>/-/metrics */
	char		*metrics_token;	/* required by it; NULL: none */
	char		*metrics_file;	/* the uploader's textfile */
	int		 has_secret;
	struct conf_stream *streams;
	size_t		 nstreams;
};

struct conf	*conf_new(void);
struct conf	*conf_load(const char *, int);
void		 conf_free(struct conf *);
void		 conf_print(const struct conf *, FILE *);
struct conf_stream *conf_stream_by_name(const struct conf *, const char *);
int		 conf_valid_name(const char *);

int		 conf_parse_size(const char *, uint64_t *);
int		 conf_parse_duration(const char *, long *);
int		 conf_parse_offset(const char *, int *);
const char	*conf_default_path(void);
const char	*conf_choose_path(const char *);

#endif
