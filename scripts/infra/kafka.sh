#!/usr/bin/env bash
# Apache Kafka (real broker) in KRaft combined mode on loopback.
#   kafka.sh install           resolve the broker jars from Maven Central into the cache (idempotent)
#   kafka.sh start DIR PORT    format DIR and start a one-node broker+controller listening on PORT
#   kafka.sh stop DIR          stop the broker started in DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
JARS="$MEDIAMILL_CACHE/kafka-$KAFKA_VERSION"

install() {
  if [ -f "$JARS/.complete" ]; then return 0; fi
  mkdir -p "$JARS"
  mvn -q -B -Dstyle.color=never -f "$INFRA_DIR/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$JARS"
  touch "$JARS/.complete"
}

start() {
  local dir=$1 port=$2 ctl
  install
  mkdir -p "$dir/data"
  # A restart keeps its controller port: the KRaft quorum recorded it, and a new one leaves the broker
  # looking for its controller for a minute before it serves again.
  if [ -f "$dir/controller.port" ]; then ctl=$(cat "$dir/controller.port"); else ctl=$(free_port); echo "$ctl" > "$dir/controller.port"; fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$ctl
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  cat > "$dir/log4j2.properties" <<'PROPS'
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=${sys:kafka.logs.dir}/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=%d %p %c: %m%n
PROPS
  if [ ! -f "$dir/data/meta.properties" ]; then
    # `--cluster-id=`: a random id may start with "-", which the separate-argument form reads as an option.
    java -cp "$JARS/*" kafka.tools.StorageTool format --standalone --cluster-id="$(python3 -c 'import uuid,base64;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" \
      -c "$dir/server.properties" > "$dir/format.log" 2>&1 ||
      { echo "kafka: formatting the storage failed:" >&2; tail -20 "$dir/format.log" >&2; return 1; }
  fi
  nohup java -Xmx512m -Xms128m -XX:+UseSerialGC -Dkafka.logs.dir="$dir" \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$JARS/*" kafka.Kafka "$dir/server.properties" > "$dir/stdout.log" 2>&1 &
  echo $! > "$dir/pid"
  wait_port "$port" 90 || { echo "kafka: no listener on port $port:" >&2; tail -30 "$dir/stdout.log" "$dir/server.log" >&2 || true; return 1; }
}

stop() { stop_pidfile "$1"; }

"$@"
