/*
 * sd_notify(3) without libsystemd: tell the service manager that we are
 * ready, stopping, or what our status is, through $NOTIFY_SOCKET. A no-op
 * (returning 0) when not started by systemd with Type=notify.
 */
#ifndef STEPFS_SDNOTIFY_H
#define STEPFS_SDNOTIFY_H

/*
 * Send @state (e.g. "READY=1\nSTATUS=mounted /mnt/x"). Returns 1 if sent,
 * 0 if there is no notify socket, -errno on failure. Thread-safe.
 */
int sdnotify_send(const char *state);

#endif
