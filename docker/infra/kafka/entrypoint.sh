#!/usr/bin/env bash
# KAFKA_* variables → server.properties (as the official image does), format once, run the broker.
set -euo pipefail
conf=/var/lib/kafka/server.properties
: > "$conf"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS) ;;
    KAFKA_*) key=${name#KAFKA_}; key=${key,,}; echo "${key//_/.}=$value" >> "$conf" ;;
  esac
done < <(env)
grep -q '^log.dirs=' "$conf" || echo "log.dirs=/var/lib/kafka/data" >> "$conf"
logdir=$(sed -n 's/^log\.dirs=//p' "$conf")
if [ ! -f "$logdir/meta.properties" ]; then
  # A static voter list (controller.quorum.voters) is formatted as is; a dynamic quorum as a standalone one.
  mode=(--standalone); grep -q '^controller\.quorum\.voters=' "$conf" && mode=()
  java -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format "${mode[@]}" --cluster-id="${CLUSTER_ID:?set CLUSTER_ID}" -c "$conf" > /dev/null
fi
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} -XX:+UseSerialGC -Dkafka.logs.dir=/var/lib/kafka \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
