/*
 * An example tidegate plugin (ABI version 1), in C: docs/plugins.md walks
 * through it. Built as build/lib/tidegate_example_plugin.so and loaded by
 * tests/system/test_plugins.py.
 *
 * Options (strings):
 *   "users":       "alice:pw1,bob:pw2"  users it knows; others are left to the
 *                                       next authority (IGNORE)
 *   "delay_ms":    "50"                 answers authentication from a thread of
 *                                       its own after this delay (the
 *                                       asynchronous completion path)
 *   "deny_prefix": "secret/"            topics it refuses to everyone
 *   "events_file": "/tmp/events.log"    where it appends one line per event
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tidegate_plugin.h"

struct state {
  const struct tidegate_host *host;
  char users[1024];
  char deny_prefix[256];
  char events_file[1024];
  long delay_ms;
  pthread_mutex_t lock; /* events file and the count below */
  pthread_cond_t idle;
  int pending; /* authentications answered from a thread, not yet done */
};

/* The string value of "key" in the compact JSON object the gateway passes. */
static void option(const char *json, const char *key, char *out, size_t size) {
  char pattern[128];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  out[0] = '\0';
  const char *at = strstr(json, pattern);
  if (!at) return;
  at += strlen(pattern);
  size_t n = 0;
  while (at[n] && at[n] != '"' && n + 1 < size) ++n;
  memcpy(out, at, n);
  out[n] = '\0';
}

static void event(struct state *s, const char *line) {
  if (!s->events_file[0]) return;
  pthread_mutex_lock(&s->lock);
  FILE *f = fopen(s->events_file, "a");
  if (f) {
    fprintf(f, "%s\n", line);
    fclose(f);
  }
  pthread_mutex_unlock(&s->lock);
}

int tidegate_plugin_abi_version(void) { return TIDEGATE_PLUGIN_ABI_VERSION; }

int tidegate_plugin_init(const struct tidegate_host *host, const char *options_json, void **state) {
  if (host->abi_version != TIDEGATE_PLUGIN_ABI_VERSION) return 1;
  struct state *s = calloc(1, sizeof *s);
  if (!s) return 1;
  s->host = host;
  char delay[32];
  option(options_json, "users", s->users, sizeof s->users);
  option(options_json, "deny_prefix", s->deny_prefix, sizeof s->deny_prefix);
  option(options_json, "events_file", s->events_file, sizeof s->events_file);
  option(options_json, "delay_ms", delay, sizeof delay);
  s->delay_ms = atol(delay);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->idle, NULL);
  *state = s;
  host->log(TIDEGATE_LOG_INFO, "example plugin ready");
  return 0;
}

void tidegate_plugin_cleanup(void *state) {
  struct state *s = state;
  /* Every completion handed out must be answered before the gateway unloads us. */
  pthread_mutex_lock(&s->lock);
  while (s->pending > 0) pthread_cond_wait(&s->idle, &s->lock);
  pthread_mutex_unlock(&s->lock);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->idle);
  free(s);
}

/* ALLOW / DENY for a user in the list (right or wrong password), IGNORE otherwise. */
static int check(const struct state *s, const char *user, const char *password, size_t password_len) {
  if (!user) return TIDEGATE_IGNORE;
  size_t user_len = strlen(user);
  const char *entry = s->users;
  while (*entry) {
    const char *end = strchr(entry, ',');
    size_t len = end ? (size_t)(end - entry) : strlen(entry);
    const char *colon = memchr(entry, ':', len);
    if (colon && (size_t)(colon - entry) == user_len && memcmp(entry, user, user_len) == 0) {
      size_t pw_len = len - user_len - 1;
      int ok = password && pw_len == password_len && memcmp(colon + 1, password, pw_len) == 0;
      return ok ? TIDEGATE_ALLOW : TIDEGATE_DENY;
    }
    if (!end) break;
    entry = end + 1;
  }
  return TIDEGATE_IGNORE;
}

struct pending_auth {
  struct state *s;
  struct tidegate_auth_completion *completion;
  int decision;
};

static void *answer_later(void *arg) {
  struct pending_auth *p = arg;
  struct timespec delay = {p->s->delay_ms / 1000, (p->s->delay_ms % 1000) * 1000000L};
  nanosleep(&delay, NULL);
  p->s->host->complete_authentication(p->completion, p->decision);
  pthread_mutex_lock(&p->s->lock);
  if (--p->s->pending == 0) pthread_cond_broadcast(&p->s->idle);
  pthread_mutex_unlock(&p->s->lock);
  free(p);
  return NULL;
}

void tidegate_on_authenticate(void *state, const struct tidegate_auth_request *request,
                              struct tidegate_auth_completion *completion) {
  struct state *s = state;
  int decision = check(s, request->client.username, request->password, request->password_len);
  if (s->delay_ms <= 0) {
    s->host->complete_authentication(completion, decision); /* answered at once */
    return;
  }
  struct pending_auth *p = malloc(sizeof *p);
  pthread_t thread;
  if (!p) {
    s->host->complete_authentication(completion, TIDEGATE_DENY);
    return;
  }
  *p = (struct pending_auth){s, completion, decision};
  pthread_mutex_lock(&s->lock);
  ++s->pending;
  pthread_mutex_unlock(&s->lock);
  if (pthread_create(&thread, NULL, answer_later, p) != 0) {
    pthread_mutex_lock(&s->lock);
    --s->pending;
    pthread_mutex_unlock(&s->lock);
    free(p);
    s->host->complete_authentication(completion, TIDEGATE_DENY);
    return;
  }
  pthread_detach(thread);
}

int tidegate_on_acl_check(void *state, const struct tidegate_client *client, const char *topic, int access) {
  const struct state *s = state;
  (void)client;
  (void)access;
  if (s->deny_prefix[0] && strncmp(topic, s->deny_prefix, strlen(s->deny_prefix)) == 0) return TIDEGATE_DENY;
  return TIDEGATE_IGNORE;
}

void tidegate_on_message_published(void *state, const struct tidegate_message *message) {
  char line[1200];
  snprintf(line, sizeof line, "published %s %s %zu", message->client_id, message->topic, message->payload_len);
  event(state, line);
}

void tidegate_on_client_connected(void *state, const struct tidegate_client *client) {
  char line[1200];
  snprintf(line, sizeof line, "connected %s %s", client->client_id, client->username ? client->username : "-");
  event(state, line);
}

void tidegate_on_client_disconnected(void *state, const struct tidegate_client *client) {
  char line[1200];
  snprintf(line, sizeof line, "disconnected %s", client->client_id);
  event(state, line);
}
