#!/bin/sh
# qwen-server, the standalone Qwen API Server. This file is this short launcher followed by the executable's
# folder, compressed. The first start unpacks the folder once into a cache; every start runs it from there, so
# restarts unpack nothing. The cache: $QWEN_SERVER_CACHE, else $XDG_CACHE_HOME/qwen-server, else
# ~/.cache/qwen-server, else ${TMPDIR:-/tmp}/qwen-server-<uid>; one folder per build (delete older ones freely
# while they are not running).
set -eu
build=@BUILD@
offset=@OFFSET@
if [ -n "${QWEN_SERVER_CACHE:-}" ]; then
  root=$QWEN_SERVER_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  root=$XDG_CACHE_HOME/qwen-server
elif [ -n "${HOME:-}" ]; then
  root=$HOME/.cache/qwen-server
else
  root=${TMPDIR:-/tmp}/qwen-server-$(id -u)
fi
folder=$root/$build
if [ ! -f "$folder/.complete" ]; then
  umask 077
  mkdir -p "$root"
  if [ ! -O "$root" ]; then
    echo "qwen-server: the cache folder $root belongs to another user; set QWEN_SERVER_CACHE" >&2
    exit 1
  fi
  staging=$(mktemp -d "$root/.unpacking.XXXXXX")
  if ! tail -c +"$offset" "$0" | tar -xzf - -C "$staging"; then
    rm -rf "$staging"
    echo "qwen-server: cannot unpack into $root (disk full? set QWEN_SERVER_CACHE elsewhere)" >&2
    exit 1
  fi
  : >"$staging/.complete"
  if [ ! -f "$folder/.complete" ]; then
    if [ -d "$folder" ] && [ ! -f "$folder/.complete" ]; then
      rm -rf "$folder" # broken: something removed part of it
    fi
    mv "$staging" "$folder"
  fi
  # a start that lost the race to another one's unpacking removes its own (mv may have put it inside)
  rm -rf "$staging" "$folder/${staging##*/}"
fi
exec "$folder/qwen-server" "$@"
