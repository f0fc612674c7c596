# nginx in front of unixcorn: Debian's nginx with the repository's config.
# Build from the repository's top directory:
#   docker build -f docker/nginx.Dockerfile -t unixcorn-nginx .
FROM debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# The socket's group and directory as in docker/Dockerfile (same name, gid,
# owner and mode), so a new volume is right whichever container mounts it
# first. nginx runs as its own user with that group as its primary group: as
# root under cap_drop ALL, Debian's nginx dies chowning its temp directories.
# 10001 is the app's uid in docker/Dockerfile.
RUN groupadd --gid 10000 unixcorn-sock \
 && useradd --uid 10002 --gid unixcorn-sock --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin unixcorn-nginx \
 && install -d -o 10001 -g unixcorn-sock -m 2750 /run/unixcorn
# The same include files as ./run uses, unchanged, beside the container's own
# top level and socket line; includes are relative to the top level's directory.
COPY nginx/unixcorn-upstream.conf nginx/unixcorn-proxy.conf /etc/unixcorn/nginx/
COPY docker/nginx-container.conf /etc/unixcorn/nginx/nginx.conf
COPY docker/unixcorn-socket.conf /etc/unixcorn/nginx/unixcorn-socket.conf
COPY docker/nginx-healthcheck /usr/local/bin/nginx-healthcheck
RUN nginx -t -q -e stderr -p /tmp/ -c /etc/unixcorn/nginx/nginx.conf
USER 10002:10000
EXPOSE 8080
# QUIT is nginx's graceful stop: requests in flight are finished.
STOPSIGNAL SIGQUIT
# The prefix /run/nginx holds the pid file and temp directories: mount a tmpfs
# there (docker run --tmpfs /run/nginx; compose.yaml and k8s.yaml do). It is
# not in the image: podman would give the tmpfs that directory's mode but not
# its owner. -e stderr: the error log nginx opens before it reads its config.
ENTRYPOINT ["nginx", "-p", "/run/nginx/", "-c", "/etc/unixcorn/nginx/nginx.conf", "-e", "stderr"]
