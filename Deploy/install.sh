#!/usr/bin/env bash
# Installs parkd and parksim on this gateway: release build, binaries, a `parkd` user,
# configuration, rule packs, systemd units and the mosquitto gateway configuration. On a
# province server, the same script installs parkd-central.service; write
# /etc/parkd/central.yaml and /etc/parkd/central.env (PARKD_CENTRAL_POSTGRES=...) from
# /usr/local/share/parktelemetry/province/, then: systemctl enable --now parkd-central.
# Existing configuration is kept; run again to upgrade (binaries, rule packs, units).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

make release
BIN="$(swift build -c release --show-bin-path)"
install -m 0755 "$BIN/parkd" "$BIN/parksim" "$BIN/parkd-central" /usr/local/bin/
# The crash reporter of the Swift runtime linked into them (make release put it there): it must
# sit beside the binaries, or a crash prints no backtrace to the journal.
[ -x "$BIN/swift-backtrace" ] && install -m 0755 "$BIN/swift-backtrace" /usr/local/bin/

id parkd >/dev/null 2>&1 || useradd --system --home /var/lib/parkd --shell /usr/sbin/nologin parkd
install -d -m 0750 -o root -g parkd /etc/parkd /etc/parkd/rules
install -d -m 0750 -o parkd -g parkd /var/lib/parkd /var/log/parkd
install -m 0644 Deploy/rules/*.yaml /etc/parkd/rules/
[ -e /etc/parkd/parkd.yaml ] || install -m 0640 -o root -g parkd Deploy/config/park.yaml /etc/parkd/parkd.yaml
install -d /usr/local/share/parktelemetry/scenarios /usr/local/share/doc/parktelemetry
install -m 0644 Simulators/scenarios/*.yaml /usr/local/share/parktelemetry/scenarios/
install -m 0644 README.md /usr/local/share/doc/parktelemetry/

if [ -d /etc/mosquitto/conf.d ] && [ ! -e /etc/mosquitto/conf.d/parktelemetry.conf ]; then
  install -m 0644 Deploy/mosquitto/gateway.conf /etc/mosquitto/conf.d/parktelemetry.conf
  # mosquitto 2 reads the ACL after dropping to its own user: root:mosquitto 0640, not root:root.
  [ -e /etc/mosquitto/acl ] || install -m 0640 -o root -g mosquitto Deploy/mosquitto/acl /etc/mosquitto/acl
  echo "install.sh: mosquitto gateway configuration installed; create /etc/mosquitto/passwd and the TLS files it names"
fi

# The province examples (NATS node, gateway bridge, central worker), for reference.
install -d /usr/local/share/parktelemetry/province
install -m 0644 Deploy/province/* /usr/local/share/parktelemetry/province/

if [ -d /etc/systemd/system ]; then
  # parkd-central.service is for the province's servers: installed, not enabled.
  install -m 0644 Deploy/systemd/parkd.service Deploy/systemd/parksim.service Deploy/systemd/parkd-central.service \
    /etc/systemd/system/
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl daemon-reload
    echo "install.sh: start with: systemctl enable --now parkd"
  fi
fi
/usr/local/bin/parkd check-config /etc/parkd/parkd.yaml >/dev/null 2>&1 \
  || echo "install.sh: edit /etc/parkd/parkd.yaml (and /etc/parkd/broker.pass), then: parkd check-config /etc/parkd/parkd.yaml"
echo "install.sh: done"
