/* systemd's readiness protocol: one datagram to $NOTIFY_SOCKET, when set. */
#ifndef UNIXCORN_NOTIFY_H
#define UNIXCORN_NOTIFY_H

/* e.g. "READY=1", "STOPPING=1", "RELOADING=1", "MAINPID=42\nREADY=1". */
void notify_systemd(const char *state);

#endif
