#!/usr/bin/env bash
# services.sh — the services Tether's integration tests and the daemon need:
# a single-node Kafka broker (deploy/local/kafka.sh) and a ClickHouse server
# (deploy/local/clickhouse.sh), both private to this checkout (files under
# .cache/, git-ignored).
#
#   deploy/local/services.sh up       install if needed and start both; idempotent
#   deploy/local/services.sh down     stop both
#   deploy/local/services.sh status   report both; exit 0 only when both run
#
# `up` prints the addresses as environment assignments, e.g.
#   TETHER_TEST_KAFKA=127.0.0.1:9092
#   TETHER_TEST_CLICKHOUSE=127.0.0.1:9000
# and, for the security tests, the broker's SASL_SSL listener and the
# ClickHouse secure native port with the files a client needs:
#   TETHER_TEST_KAFKA_SASL_SSL=127.0.0.1:9094
#   TETHER_TEST_KAFKA_CA=… TETHER_TEST_KAFKA_CLIENT_CERT=… TETHER_TEST_KAFKA_CLIENT_KEY=…
#   TETHER_TEST_KAFKA_SASL_USER=tether TETHER_TEST_KAFKA_SASL_PASSWORD_FILE=…
#   TETHER_TEST_CLICKHOUSE_TLS=127.0.0.1:9440 TETHER_TEST_CLICKHOUSE_CA=…
# so `eval "$(deploy/local/services.sh up)"` exports them. Progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache_root="${TETHER_CACHE:-$repo/.cache}"
kafka_addr="127.0.0.1:${TETHER_KAFKA_PORT:-9092}"
kafka_sasl_port="${TETHER_KAFKA_SASL_SSL_PORT:-9094}"
clickhouse_addr="127.0.0.1:${TETHER_CLICKHOUSE_TCP_PORT:-9000}"
clickhouse_tls_port="${TETHER_CLICKHOUSE_TLS_PORT:-9440}"
# shellcheck disable=SC2329
log() { echo "services: $*" >&2; }
# shellcheck source=deploy/local/lib.sh
source "$here/lib.sh"

have_clickhouse() { [[ -f "$here/clickhouse.sh" ]]; }

# dev_signing_key writes, once, the local development key that signs
# containment commands (control.signing_key_file of
# deploy/tether.example.yaml), with openssl in the PKCS #8 PEM Ed25519
# format that `tether keygen` writes. Production creates its own key with
# `tether keygen` and keeps it out of the repository.
dev_signing_key() {
	local dir="$repo/.cache/keys"
	[[ -f $dir/control.key ]] && return 0
	mkdir -p "$dir"
	chmod 700 "$dir"
	(umask 077 && openssl genpkey -algorithm ed25519 -out "$dir/control.key")
	openssl pkey -in "$dir/control.key" -pubout -out "$dir/control.pub"
	log "development signing key $dir/control.key (deploy/tether.example.yaml; production: tether keygen)"
}

up() {
	dev_signing_key
	bash "$here/kafka.sh" install
	if have_clickhouse; then
		bash "$here/clickhouse.sh" install
	else
		echo "services: deploy/local/clickhouse.sh is missing; starting Kafka only" >&2
	fi
	bash "$here/kafka.sh" start >/dev/null
	if have_clickhouse; then
		bash "$here/clickhouse.sh" start
	fi
	echo "services: Kafka broker       $kafka_addr (controller 127.0.0.1:${TETHER_KAFKA_CONTROLLER_PORT:-9093})" >&2
	if have_clickhouse; then
		echo "services: ClickHouse native  $clickhouse_addr (HTTP 127.0.0.1:${TETHER_CLICKHOUSE_HTTP_PORT:-8123})" >&2
	fi
	echo "TETHER_TEST_KAFKA=$kafka_addr"
	# The console's browser tests need Chromium (not a service: installed only).
	bash "$here/chromium.sh" install
	if [[ $kafka_sasl_port != 0 ]] && port_open "$kafka_sasl_port"; then
		local k="$cache_root/kafka"
		echo "services: Kafka SASL_SSL     127.0.0.1:$kafka_sasl_port (CA $k/tls/ca.crt)" >&2
		echo "TETHER_TEST_KAFKA_SASL_SSL=127.0.0.1:$kafka_sasl_port"
		echo "TETHER_TEST_KAFKA_CA=$k/tls/ca.crt"
		echo "TETHER_TEST_KAFKA_CLIENT_CERT=$k/tls/client.crt"
		echo "TETHER_TEST_KAFKA_CLIENT_KEY=$k/tls/client.key"
		echo "TETHER_TEST_KAFKA_SASL_USER=tether"
		echo "TETHER_TEST_KAFKA_SASL_PASSWORD_FILE=$k/sasl/tether.password"
	fi
	if have_clickhouse; then
		echo "TETHER_TEST_CLICKHOUSE=$clickhouse_addr"
		if [[ $clickhouse_tls_port != 0 ]] && port_open "$clickhouse_tls_port"; then
			echo "services: ClickHouse TLS     127.0.0.1:$clickhouse_tls_port" >&2
			echo "TETHER_TEST_CLICKHOUSE_TLS=127.0.0.1:$clickhouse_tls_port"
			echo "TETHER_TEST_CLICKHOUSE_CA=$cache_root/clickhouse/tls/ca.crt"
		fi
	fi
}

down() {
	local rc=0
	if have_clickhouse; then
		bash "$here/clickhouse.sh" stop || rc=1
	fi
	bash "$here/kafka.sh" stop || rc=1
	return "$rc"
}

status() {
	local rc=0
	bash "$here/kafka.sh" status || rc=1
	if have_clickhouse; then
		printf 'clickhouse: '
		bash "$here/clickhouse.sh" status || rc=1
	else
		echo "clickhouse: deploy/local/clickhouse.sh is missing"
		rc=1
	fi
	return "$rc"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
