/*
 * A plugin for the system tests (ABI version 1, docs/plugins.md), built as
 * build/lib/tidegate_test_plugin.so. It does what the example plugin does not:
 *
 *   "silent_user":      "slow"     the authentication of this user name is never
 *                                  answered while the gateway runs (the gateway's
 *                                  connect_timeout must end it); cleanup answers
 *                                  what is still pending, as the ABI requires.
 *                                  Other clients are left to the files (IGNORE).
 *   "deny_read":  "hidden/,a/no/"  topics starting with one of these prefixes may
 *                                  be published and subscribed to by anyone, but
 *                                  never delivered (refused on ACCESS_READ only).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tidegate_plugin.h"

struct pending {
  struct tidegate_auth_completion *completion;
  struct pending *next;
};

struct state {
  const struct tidegate_host *host;
  char silent_user[256];
  char deny_read[256]; /* comma-separated prefixes */
  pthread_mutex_t lock;
  struct pending *pending; /* completions not answered yet */
};

/* The string value of "key" in the compact JSON object the gateway passes. */
static void option(const char *json, const char *key, char *out, size_t size) {
  char pattern[128];
  size_t n = 0;
  const char *at;
  out[0] = '\0';
  if (strlen(key) + 5 > sizeof pattern) return;
  strcpy(pattern, "\"");
  strcat(pattern, key);
  strcat(pattern, "\":\"");
  at = strstr(json, pattern);
  if (!at) return;
  at += strlen(pattern);
  while (at[n] && at[n] != '"' && n + 1 < size) ++n;
  memcpy(out, at, n);
  out[n] = '\0';
}

int tidegate_plugin_abi_version(void) { return TIDEGATE_PLUGIN_ABI_VERSION; }

int tidegate_plugin_init(const struct tidegate_host *host, const char *options_json, void **state) {
  struct state *s;
  if (host->abi_version != TIDEGATE_PLUGIN_ABI_VERSION) return 1;
  s = calloc(1, sizeof *s);
  if (!s) return 1;
  s->host = host;
  option(options_json, "silent_user", s->silent_user, sizeof s->silent_user);
  option(options_json, "deny_read", s->deny_read, sizeof s->deny_read);
  pthread_mutex_init(&s->lock, NULL);
  *state = s;
  return 0;
}

void tidegate_plugin_cleanup(void *state) {
  struct state *s = state;
  /* Every completion handed out must be answered before the gateway unloads us. */
  while (s->pending) {
    struct pending *p = s->pending;
    s->pending = p->next;
    s->host->complete_authentication(p->completion, TIDEGATE_DENY);
    free(p);
  }
  pthread_mutex_destroy(&s->lock);
  free(s);
}

void tidegate_on_authenticate(void *state, const struct tidegate_auth_request *request,
                              struct tidegate_auth_completion *completion) {
  struct state *s = state;
  struct pending *p;
  const char *user = request->client.username;
  if (!s->silent_user[0] || !user || strcmp(user, s->silent_user) != 0) {
    s->host->complete_authentication(completion, TIDEGATE_IGNORE);
    return;
  }
  p = malloc(sizeof *p);
  if (!p) {
    s->host->complete_authentication(completion, TIDEGATE_DENY);
    return;
  }
  pthread_mutex_lock(&s->lock);
  p->completion = completion;
  p->next = s->pending;
  s->pending = p;
  pthread_mutex_unlock(&s->lock);
}

int tidegate_on_acl_check(void *state, const struct tidegate_client *client, const char *topic, int access) {
  const struct state *s = state;
  const char *prefix = s->deny_read;
  (void)client;
  if (access != TIDEGATE_ACCESS_READ) return TIDEGATE_IGNORE;
  while (*prefix) {
    const char *end = strchr(prefix, ',');
    size_t len = end ? (size_t)(end - prefix) : strlen(prefix);
    if (len > 0 && strncmp(topic, prefix, len) == 0) return TIDEGATE_DENY;
    if (!end) break;
    prefix = end + 1;
  }
  return TIDEGATE_IGNORE;
}
