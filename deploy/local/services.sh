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
# so `eval "$(deploy/local/services.sh up)"` exports them. Progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_addr="127.0.0.1:${TETHER_KAFKA_PORT:-9092}"
clickhouse_addr="127.0.0.1:${TETHER_CLICKHOUSE_TCP_PORT:-9000}"

have_clickhouse() { [[ -f "$here/clickhouse.sh" ]]; }

up() {
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
	if have_clickhouse; then
		echo "TETHER_TEST_CLICKHOUSE=$clickhouse_addr"
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
