#!/bin/sh
# Makes what the province cluster needs to trust nobody: a certificate authority, a TLS
# certificate per NATS node (served to clients, and shown to the other nodes: routes are
# mutual TLS), one user per gateway and per central worker with a random password, and the
# NATS authorization block that binds each user to its topics. Everything with openssl.
#
#   Deploy/province/make-credentials.sh --out DIR \
#       --node nats-1.province.internal --node nats-2.province.internal --node nats-3.province.internal \
#       --gateway s1/bau-bang --gateway s2/vsip-1 \
#       --worker central-1:s1,s2
#
#   --out DIR        where the files go (created; private files are 0600)
#   --node HOST      a NATS node's name as clients and peers reach it (its certificate's name)
#   --ip ADDRESS     also put this IP address in every node certificate (e.g. 127.0.0.1 for a test rig)
#   --gateway S/G    gateway G reports on shard S: it may publish uplink/S/G and nothing else
#   --worker W:S,..  central worker W serves shards S,..: it may subscribe to uplink/S/# and nothing else
#   --days N         certificate lifetime (default 825)
#
# What it writes, and where each file goes:
#   ca.crt                     every node, every gateway (bridge_cafile or uplink tls.ca_file), every worker
#   ca.key                     nowhere: keep it offline; it signs new node certificates
#   nodes/HOST.crt, HOST.key   that node (tls blocks of nats-*.conf)
#   users.conf                 every node, beside nats-*.conf (included by it)
#   gateways/G.pass            gateway G: uplink.broker.password_file (direct mode)
#   gateways/G-bridge.conf     gateway G: the credentials of its mosquitto bridge (bridged mode)
#   workers/W.pass             worker W: broker.password_file in central.yaml
#
# Run it again with the same --out to add gateways or workers: the CA, the node certificates
# and the passwords already made are kept (delete a file to make it anew).
set -eu

out=""
nodes=""
ips=""
gateways=""
workers=""
days=825
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --node) nodes="$nodes $2"; shift 2 ;;
    --ip) ips="$ips $2"; shift 2 ;;
    --gateway) gateways="$gateways $2"; shift 2 ;;
    --worker) workers="$workers $2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    -h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-credentials.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || { echo "make-credentials.sh: --out DIR is required" >&2; exit 2; }
[ -n "$nodes" ] || { echo "make-credentials.sh: at least one --node HOST is required" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-credentials.sh: openssl not found" >&2; exit 1; }

# Names go into NATS subjects and file names: the same rule parkd applies to gateways and shards.
name_ok() { printf '%s' "$1" | grep -Eq '^[a-z0-9_-]{1,64}$'; }

umask 077
mkdir -p "$out/nodes" "$out/gateways" "$out/workers"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

if [ ! -f "$out/ca.crt" ]; then
    # shellcheck disable=SC2086
    openssl req -x509 $ec -keyout "$out/ca.key" -out "$out/ca.crt" -days "$days" \
        -subj "/CN=ParkTelemetry province CA" 2>/dev/null
fi
chmod 644 "$out/ca.crt"

for host in $nodes; do
    [ -f "$out/nodes/$host.crt" ] && continue
    san="DNS:$host"
    for ip in $ips; do san="$san,IP:$ip"; done
    # shellcheck disable=SC2086
    openssl req $ec -keyout "$out/nodes/$host.key" -out "$out/nodes/$host.csr" -subj "/CN=$host" 2>/dev/null
    # serverAuth for clients and peers, clientAuth because a node presents it on its routes.
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$out/nodes/$host.ext"
    openssl x509 -req -in "$out/nodes/$host.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
        -out "$out/nodes/$host.crt" -days "$days" -extfile "$out/nodes/$host.ext" 2>/dev/null
    rm -f "$out/nodes/$host.csr" "$out/nodes/$host.ext"
    chmod 644 "$out/nodes/$host.crt"
done

password() {
    # $1: the file that keeps it. 24 random bytes, hex: no character NATS or YAML would quote.
    [ -f "$1" ] || openssl rand -hex 24 >"$1"
    cat "$1"
}

users=""
for item in $gateways; do
    shard="${item%%/*}"
    gateway="${item#*/}"
    if [ "$shard" = "$item" ] || ! name_ok "$shard" || ! name_ok "$gateway"; then
        echo "make-credentials.sh: --gateway '$item' must be SHARD/GATEWAY, each [a-z0-9_-]" >&2
        exit 2
    fi
    secret=$(password "$out/gateways/$gateway.pass")
    users="$users
    {user: \"gw-$gateway\", password: \"$secret\", allowed_connection_types: [\"MQTT\"],
     permissions: {publish: {allow: [\"uplink.$shard.$gateway\"]}, subscribe: {deny: [\">\"]}}}"
    cat >"$out/gateways/$gateway-bridge.conf" <<EOF
# The province credentials of gateway $gateway's mosquitto bridge: add these lines to its
# 'connection province' section (gateway-bridge.conf). Keep this file 0600.
remote_username gw-$gateway
remote_password $secret
bridge_cafile /etc/mosquitto/certs/province-ca.crt
EOF
done

for item in $workers; do
    worker="${item%%:*}"
    shards="${item#*:}"
    if [ "$worker" = "$item" ] || ! name_ok "$worker"; then
        echo "make-credentials.sh: --worker '$item' must be WORKER:SHARD[,SHARD...], each [a-z0-9_-]" >&2
        exit 2
    fi
    subjects=""
    for shard in $(printf '%s' "$shards" | tr ',' ' '); do
        name_ok "$shard" || { echo "make-credentials.sh: shard '$shard' must be [a-z0-9_-]" >&2; exit 2; }
        # An MQTT subscription to uplink/S/# is the subjects uplink.S and uplink.S.> in NATS.
        subjects="$subjects${subjects:+, }\"uplink.$shard\", \"uplink.$shard.>\""
    done
    secret=$(password "$out/workers/$worker.pass")
    users="$users
    {user: \"$worker\", password: \"$secret\", allowed_connection_types: [\"MQTT\"],
     permissions: {publish: {deny: [\">\"]}, subscribe: {allow: [$subjects]}}}"
done

cat >"$out/users.conf" <<EOF
# Made by make-credentials.sh. Every client is one of these users, over MQTT only, with the
# topics of its own gateway or shards; anything else is refused (and logged as a violation).
# An empty list would allow everything in NATS: what a user may not do is denied outright.
authorization {
  timeout: 5
  users: [$users
  ]
}
EOF
echo "credentials in $out: CA, $(echo $nodes | wc -w) node certificates, $(echo $gateways | wc -w) gateways, $(echo $workers | wc -w) workers"
