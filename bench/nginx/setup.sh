#!/bin/sh
# Installs the nginx `make bench` runs as a plain reverse proxy (scenario n):
# sh bench/nginx/setup.sh. Does nothing when nginx is there already; the bench starts it
# itself, with its own config in a temporary directory, so no service is set up here.
set -eu
# Debian installs it in /usr/sbin, which is not on a normal user's PATH.
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
else
    as_root="sudo"
fi
$as_root apt-get update -qq
# `nginx` first: on Debian 12 it is the server itself (`nginx-light` only adds the echo
# module to it), and where it is a metapackage (older releases) it pulls in one flavour.
# `nginx-light` for package sources without `nginx`.
for package in nginx nginx-light; do
    candidate=$(apt-cache policy "$package" | sed -n 's/^ *Candidate: *//p')
    if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
        $as_root apt-get install -y -qq --no-install-recommends "$package"
        exit 0
    fi
done
echo "bench/nginx/setup.sh: no nginx package to install (tried nginx, nginx-light)" >&2
exit 1
