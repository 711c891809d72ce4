/*
 * tidegate plugin ABI, version 1 (docs/plugins.md).
 *
 * A plugin is a shared object the gateway loads at start ("plugins" in the
 * config). It is plain C: build it with any C or C++ compiler against this
 * header alone; it does not link the gateway.
 *
 * Required symbols:
 *   int  tidegate_plugin_abi_version(void);     returns TIDEGATE_PLUGIN_ABI_VERSION
 *   int  tidegate_plugin_init(const struct tidegate_host *host, const char *options_json, void **state);
 *   void tidegate_plugin_cleanup(void *state);
 * Optional symbols (an event whose function is absent is not delivered):
 *   tidegate_on_authenticate, tidegate_on_acl_check, tidegate_on_message_published,
 *   tidegate_on_client_connected, tidegate_on_client_disconnected
 *
 * Threads: init and cleanup run once, on the gateway's main thread, before any
 * client connects and after every client is gone. Every event runs on the
 * worker thread of the connection it concerns; with several workers, events
 * for different clients run at the same time, so a plugin's state must be
 * safe to use from several threads. An event must return quickly (it holds
 * up every client of its worker); slow work belongs on the plugin's own
 * threads, with the asynchronous completion below.
 *
 * Pointers passed to an event are valid only during the call: copy what you keep.
 * Strings are UTF-8 and NUL-terminated; "absent" is NULL.
 */
#ifndef TIDEGATE_PLUGIN_H
#define TIDEGATE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIDEGATE_PLUGIN_ABI_VERSION 1

/* Answers of authenticate and ACL checks. */
enum tidegate_decision {
  TIDEGATE_ALLOW = 0,
  TIDEGATE_DENY = 1,
  TIDEGATE_IGNORE = 2 /* no opinion: the next authority decides */
};

enum tidegate_access { TIDEGATE_ACCESS_PUBLISH = 1, TIDEGATE_ACCESS_SUBSCRIBE = 2, TIDEGATE_ACCESS_READ = 4 };

enum tidegate_log_level { TIDEGATE_LOG_DEBUG = 0, TIDEGATE_LOG_INFO = 1, TIDEGATE_LOG_WARN = 2, TIDEGATE_LOG_ERROR = 3 };

struct tidegate_client {
  const char *client_id;
  const char *username; /* NULL: none given */
  const char *address;  /* peer "ip:port" */
  int protocol_version; /* 3, 4 (3.1.1) or 5 */
};

struct tidegate_auth_request {
  struct tidegate_client client;
  const char *password; /* NULL: none given */
  size_t password_len;  /* MQTT passwords are binary */
};

struct tidegate_message {
  const char *client_id; /* the publisher */
  const char *topic;
  const void *payload;
  size_t payload_len;
  int qos;
  int retain;
};

/* An authentication waiting for its answer. Opaque; owned by the gateway
 * until complete_authentication is called with it (exactly once). */
struct tidegate_auth_completion;

/* What the gateway offers the plugin. Valid from init until cleanup returns. */
struct tidegate_host {
  int abi_version; /* TIDEGATE_PLUGIN_ABI_VERSION of the gateway */
  /* Writes a line to the gateway's log. Any thread. */
  void (*log)(int level, const char *message);
  /* Answers an authentication (TIDEGATE_ALLOW, _DENY or _IGNORE). Any thread,
   * once per completion; the gateway resumes the connection on its worker. A
   * completion not answered within the gateway's connect_timeout is refused
   * (the client is told "not authorized"); answering it later is harmless. */
  void (*complete_authentication)(struct tidegate_auth_completion *completion, int decision);
};

/* Required. */
typedef int (*tidegate_plugin_abi_version_fn)(void);
/* Returns 0 on success; anything else refuses the start (with the plugin's log lines). */
typedef int (*tidegate_plugin_init_fn)(const struct tidegate_host *host, const char *options_json, void **state);
typedef void (*tidegate_plugin_cleanup_fn)(void *state);

/* Optional events. */
/* CONNECT: answer now by calling host->complete_authentication before
 * returning, or later from any thread. */
typedef void (*tidegate_on_authenticate_fn)(void *state, const struct tidegate_auth_request *request,
                                             struct tidegate_auth_completion *completion);
/* Publish, subscribe (the filter) and each delivery (read): answered at once. */
typedef int (*tidegate_on_acl_check_fn)(void *state, const struct tidegate_client *client, const char *topic,
                                        int access);
/* A PUBLISH accepted from a client (after authorization, before it is stored). */
typedef void (*tidegate_on_message_published_fn)(void *state, const struct tidegate_message *message);
/* After CONNACK accepted the client. */
typedef void (*tidegate_on_client_connected_fn)(void *state, const struct tidegate_client *client);
/* When the connection of a connected client has ended, for any reason. */
typedef void (*tidegate_on_client_disconnected_fn)(void *state, const struct tidegate_client *client);

#ifdef __cplusplus
}
#endif

#endif /* TIDEGATE_PLUGIN_H */
