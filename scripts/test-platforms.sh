#!/usr/bin/env bash
# The real platforms the tests run against, built on this machine from their Go source modules
# (the Go module proxy is reachable here; release downloads and image registries are not), each
# version pinned below and nowhere else, and cached outside the clone by version:
#   helm3, helm4  the Helm CLI           compose  the Compose v2 plugin
#   k3s           a single-node Kubernetes cluster (apiserver, scheduler, controllers, kubelet,
#                 containerd and kubectl in one binary), run inside a network namespace of its
#                 own: its node, pod and service addresses never leave it.
#
#   bash scripts/test-platforms.sh tools          build what is missing; print each tool's path
#   bash scripts/test-platforms.sh path NAME      one tool's path (built if missing)
#   bash scripts/test-platforms.sh cluster up     start the cluster; return when its node is Ready
#   bash scripts/test-platforms.sh cluster down   stop it and remove its state
#   bash scripts/test-platforms.sh load IMAGE...  copy Docker images into the cluster's containerd
#   bash scripts/test-platforms.sh env            what a shell needs: eval "$(bash scripts/test-platforms.sh env)"
#
# Commands that talk to the cluster run inside its namespace: nsenter --net=/run/netns/atlas-k3s
# (not `ip netns exec`, which remounts /sys and hides the cgroups).
set -euo pipefail
# A failure inside $(…) stops the script too.
shopt -s inherit_errexit

HELM3_VERSION=v3.21.4
HELM4_VERSION=v4.3.2
# Later Compose releases carry `exclude` directives, which `go install module@version` refuses.
COMPOSE_VERSION=v2.35.0
# k3s tags (v1.35.1+k3s1) are not Go module versions: its module is fetched by pseudo-version.
K3S_MODULE_VERSION=v1.35.1-0.20260211145931-c5b158798933

cache="${XDG_CACHE_HOME:-$HOME/.cache}/atlas-tools"
netns=atlas-k3s
netns_path=/run/netns/$netns
state=/var/lib/atlas-k3s
# The node's address inside the namespace; pods take theirs from the bridge's range.
node_ip=10.250.0.2
pod_range=10.42.0.0/24
pause_image=atlas-test/pause:1

die() { echo "test-platforms.sh: $1" >&2; exit "${2:-1}"; }
usage() { sed -n '/^#   bash/s/^#   //p' "$0" >&2; exit 2; }

go_cmd() {
  if command -v go >/dev/null 2>&1; then go "$@"
  elif [ -x /usr/local/go/bin/go ]; then /usr/local/go/bin/go "$@"
  else die "building the test platforms needs Go 1.24 or newer and its module proxy" 2
  fi
}

# A tool is built into a staging directory and renamed into place whole: a build killed half-way
# leaves nothing under the final name, so the next run builds it again.
install_dir() {
  local dir="$cache/$1" staging
  [ -d "$dir" ] && { echo "$dir"; return; }
  mkdir -p "$cache"
  staging="$(mktemp -d "$cache/.$1.XXXXXX")"
  # In the background, then waited for: called as the left side of `||`, a function would run
  # with `set -e` ignored, and a failed step would not stop it.
  "build_$2" "$staging" "${@:3}" >&2 &
  wait $! || { rm -rf "$staging"; die "building $1 failed"; }
  mv -T "$staging" "$dir"
  echo "$dir"
}

build_go_install() { # staging module version version-variable binary
  local gobin
  gobin="$(mktemp -d)"
  GOBIN="$gobin" CGO_ENABLED=0 go_cmd install -ldflags "-s -w -X $4=$3" "$2@$3"
  mkdir -p "$(dirname "$1/$5")"
  mv "$gobin/$(basename "$2")" "$1/$5"
  rm -rf "$gobin"
}

# k3s as its own scripts/build does, less what this cluster does not run: the charts it would
# deploy (traefik and the rest are disabled) and the CNI plugins (Debian's are used). Beside it,
# runc and the containerd shim of the same containerd; kubectl, containerd, ctr and crictl, which are the
# same binary by other names (k3s runs the first `containerd` on its PATH: without this one,
# Debian's 1.6 beside Docker); and the pause image every pod's sandbox starts from, a static
# binary that waits for a signal.
build_k3s() {
  local out="$1" src work k8s major minor version flags runc
  src="$(cd "$(mktemp -d)" && go_cmd mod download -json "github.com/k3s-io/k3s@$K3S_MODULE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || die "the Go module proxy did not serve github.com/k3s-io/k3s@$K3S_MODULE_VERSION"
  work="$(mktemp -d)"
  cp -R "$src/." "$work" && chmod -R u+w "$work"
  k8s="$(sed -n 's#^\tk8s.io/kubernetes => .* \(v[0-9.]*\)-k3s[0-9]*$#\1#p' "$work/go.mod")"
  IFS=. read -r major minor _ <<<"${k8s#v}"
  version="$k8s+k3s-${K3S_MODULE_VERSION##*-}"
  # Unset, every component would call itself v0.0.0 (and the kubelet's version skew checks with
  # it). k3s refuses to start unless built with the Go that Kubernetes names; this one is built
  # with the Go of this machine, and says so.
  flags="-s -w -X github.com/k3s-io/k3s/pkg/version.Version=$version -X github.com/k3s-io/k3s/pkg/version.UpstreamGolang=$(go_cmd env GOVERSION)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  cp -R "$work/manifests/." "$work/pkg/deploy/embed/"
  echo "k3s static files: none in this build" > "$work/pkg/static/embed/README"
  mkdir -p "$out/bin"
  (
    cd "$work"
    CGO_CFLAGS="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1" CGO_ENABLED=1 go_cmd build -buildvcs=false \
      -tags "ctrd netcgo osusergo providerless urfave_cli_no_docs sqlite_omit_load_extension apparmor seccomp" \
      -ldflags "$flags" -o "$out/bin/k3s" ./cmd/server
    CGO_ENABLED=0 go_cmd build -buildvcs=false -ldflags "-s -w" -o "$out/bin/containerd-shim-runc-v2" \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
  )
  rm -rf "$work"
  # runc, at the version k3s pins (its go.mod's replace), from its own module.
  runc="$(sed -n 's#^\tgithub.com/opencontainers/runc => github.com/opencontainers/runc \(v[0-9.]*\)$#\1#p' "$src/go.mod")"
  src="$(cd "$(mktemp -d)" && go_cmd mod download -json "github.com/opencontainers/runc@$runc" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  work="$(mktemp -d)"
  cp -R "$src/." "$work" && chmod -R u+w "$work"
  (cd "$work" && CGO_ENABLED=1 go_cmd build -buildvcs=false -tags "seccomp apparmor" -ldflags "-s -w -X main.version=${runc#v}" -o "$out/bin/runc" .)
  rm -rf "$work"
  for name in kubectl containerd ctr crictl; do ln -s k3s "$out/bin/$name"; done
  build_pause_image "$out"
}

build_pause_image() {
  local out="$1" work
  work="$(mktemp -d)"
  mkdir -p "$work/src" "$work/rootfs"
  cat > "$work/src/main.go" <<'EOF'
// The pod sandbox's process: it holds the pod's namespaces until it is told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
EOF
  (cd "$work/src" && CGO_ENABLED=0 GO111MODULE=off go_cmd build -ldflags "-s -w" -o "$work/rootfs/pause" main.go)
  tar -cf "$work/rootfs.tar" --numeric-owner --owner=0 --group=0 -C "$work/rootfs" .
  docker import --change 'ENTRYPOINT ["/pause"]' "$work/rootfs.tar" "$pause_image" >/dev/null
  docker save -o "$out/pause.tar" "$pause_image"
  rm -rf "$work"
}

tool_path() {
  local dir
  case "$1" in
    helm3) dir="$(install_dir "helm3-$HELM3_VERSION" go_install helm.sh/helm/v3/cmd/helm "$HELM3_VERSION" helm.sh/helm/v3/internal/version.version helm)" && echo "$dir/helm" ;;
    helm4) dir="$(install_dir "helm4-$HELM4_VERSION" go_install helm.sh/helm/v4/cmd/helm "$HELM4_VERSION" helm.sh/helm/v4/internal/version.version helm)" && echo "$dir/helm" ;;
    # Laid out as a Docker configuration directory: DOCKER_CONFIG=<it> makes `docker compose` this one.
    compose) dir="$(install_dir "compose-$COMPOSE_VERSION" go_install github.com/docker/compose/v2/cmd "$COMPOSE_VERSION" github.com/docker/compose/v2/internal.Version cli-plugins/docker-compose)" && echo "$dir/cli-plugins/docker-compose" ;;
    k3s) dir="$(install_dir "k3s-$K3S_MODULE_VERSION" k3s)" && echo "$dir/bin/k3s" ;;
    *) die "no tool named \"$1\" (helm3, helm4, compose, k3s)" 2 ;;
  esac
}

in_netns() { nsenter --net="$netns_path" "$@"; }
kubeconfig="$state/kubeconfig.yaml"

# Ready for work: the node is Ready and the default service account, which every pod needs, exists.
cluster_ready() {
  local kubectl
  kubectl="$(tool_path k3s)"
  kubectl="$(dirname "$kubectl")/kubectl"
  [ -f "$kubeconfig" ] &&
    [ "$(in_netns "$kubectl" --kubeconfig "$kubeconfig" get nodes \
      -o 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] &&
    in_netns "$kubectl" --kubeconfig "$kubeconfig" get serviceaccount default >/dev/null 2>&1
}

cluster_up() {
  local k3s bin pid
  k3s="$(tool_path k3s)"
  bin="$(dirname "$k3s")"
  if [ -f "$state/k3s.pid" ] && kill -0 "$(cat "$state/k3s.pid")" 2>/dev/null; then
    cluster_ready && return 0
    die "a cluster is already starting (pid $(cat "$state/k3s.pid")): wait, or run: bash $0 cluster down"
  fi
  # The namespace: loopback, and a pair of linked interfaces, both inside it, one of which
  # carries the node's address and the default route k3s needs to pick it: what is sent there
  # reaches nothing (these kernels have no dummy interfaces).
  [ -e "$netns_path" ] || ip netns add "$netns"
  in_netns ip link set lo up
  if ! in_netns ip link show eth0 >/dev/null 2>&1; then
    in_netns ip link add eth0 type veth peer name eth0-end
    in_netns ip addr add "$node_ip/24" dev eth0
    in_netns ip link set eth0-end up
    in_netns ip link set eth0 up
    in_netns ip route add default via "${node_ip%.*}.1" dev eth0
  fi
  mkdir -p "$state/agent/etc/containerd" "$state/agent/etc/cni/net.d" "$state/agent/images"
  # containerd's configuration, as k3s fills it in. Not k3s's own: this machine's root lacks
  # CAP_SYS_RESOURCE, so a pod may not get an oom_score_adj below k3s's (restrict_oom_score_adj;
  # runc fails "failed to update /proc/self/oom_score_adj" without it), and the network is a
  # bridge with Debian's CNI plugins (k3s leaves it to the operator when its own, flannel, is off).
  cat > "$state/agent/etc/containerd/config-v3.toml.tmpl" <<EOF
version = 3
root = {{ printf "%q" .NodeConfig.Containerd.Root }}
state = {{ printf "%q" .NodeConfig.Containerd.State }}

[grpc]
  address = {{ deschemify .NodeConfig.Containerd.Address | printf "%q" }}

[plugins.'io.containerd.internal.v1.opt']
  path = {{ printf "%q" .NodeConfig.Containerd.Opt }}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"

[plugins.'io.containerd.cri.v1.runtime']
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  restrict_oom_score_adj = true
  # The pods' network namespaces under /run/k3s, which cluster down removes, not /run/netns.
  netns_mounts_under_state_dir = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = "$state/agent/etc/cni/net.d"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  disable_snapshot_annotations = true
  use_local_image_pull = true

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = {{ printf "%q" .NodeConfig.AgentConfig.PauseImage }}
EOF
  cat > "$state/agent/etc/cni/net.d/10-atlas-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "atlas-pods",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$pod_range" }]], "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$state/ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  [ -x /usr/lib/cni/bridge ] || die "Debian's CNI plugins are missing: apt-get install containernetworking-plugins" 2
  # Imported by k3s as it starts.
  cp "$(dirname "$bin")/pause.tar" "$state/agent/images/pause.tar"
  # In a session of its own (the caller's signals are not its), its own pid recorded by the
  # shell that becomes it.
  PATH="$bin:$PATH" in_netns setsid bash -c 'echo $$ > "$0/k3s.pid"; exec "$@"' "$state" "$k3s" server \
    --data-dir "$state" --write-kubeconfig "$kubeconfig" --write-kubeconfig-mode 600 \
    --node-ip "$node_ip" --cluster-cidr "${pod_range%.*/*}.0/16" --flannel-backend=none --disable-network-policy \
    --disable=traefik,servicelb,metrics-server,local-storage,coredns --disable-helm-controller \
    --pause-image "docker.io/$pause_image" --kubelet-arg=fail-cgroupv1=false --kubelet-arg="root-dir=$state/kubelet" \
    </dev/null >"$state/k3s.log" 2>&1 &
  for _ in $(seq 1 300); do
    cluster_ready && { echo "cluster up: $(in_netns "$bin/kubectl" --kubeconfig "$kubeconfig" get nodes --no-headers)"; return 0; }
    pid="$(cat "$state/k3s.pid" 2>/dev/null || true)"
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  tail -30 "$state/k3s.log" >&2
  cp "$state/k3s.log" "/tmp/atlas-k3s-failed.log"
  cluster_down
  die "the node was not Ready (k3s's log: /tmp/atlas-k3s-failed.log)"
}

cluster_down() {
  local pid
  if [ -f "$state/k3s.pid" ]; then
    pid="$(cat "$state/k3s.pid")"
    kill "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  # The pods outlive k3s, and their processes outlive their shims (killed, a shim leaves its
  # container running under init): kill every process in the pods' cgroups, then the shims.
  local proc
  for proc in /proc/[0-9]*; do
    if grep -q ':/kubepods' "$proc/cgroup" 2>/dev/null; then kill -9 "${proc#/proc/}" 2>/dev/null || true; fi
  done
  pkill -9 -f "containerd-shim-runc-v2 .*-address /run/k3s/containerd/containerd.sock" 2>/dev/null || true
  # The kubelet's and containerd's mounts, innermost first.
  { grep -oE " (/run/k3s|$state)[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
  if [ -e "$netns_path" ]; then ip netns delete "$netns"; fi
  rm -rf "$state" /run/k3s
}

load_images() {
  local k3s
  k3s="$(tool_path k3s)"
  [ $# -gt 0 ] || usage
  docker save "$@" | "$(dirname "$k3s")/ctr" --address /run/k3s/containerd/containerd.sock -n k8s.io images import - >/dev/null
}

case "${1:-}" in
  tools)
    [ $# -eq 1 ] || usage
    for name in helm3 helm4 compose k3s; do
      path="$(tool_path "$name")"
      echo "$name $path"
    done
    ;;
  path)
    [ $# -eq 2 ] || usage
    tool_path "$2"
    ;;
  cluster)
    [ $# -eq 2 ] || usage
    case "$2" in up) cluster_up ;; down) cluster_down ;; *) usage ;; esac
    ;;
  load)
    shift
    load_images "$@"
    ;;
  env)
    [ $# -eq 1 ] || usage
    k3s="$(tool_path k3s)"
    helm="$(tool_path helm3)"
    compose="$(tool_path compose)"
    echo "export KUBECONFIG=$kubeconfig"
    # Where the cluster is: its network namespace, and the node's address there.
    echo "export ATLAS_K3S_NETNS=$netns_path ATLAS_K3S_NODE_IP=$node_ip"
    echo "export PATH=$(dirname "$k3s"):$(dirname "$helm"):\$PATH"
    echo "# Compose v2: DOCKER_CONFIG=$(dirname "$(dirname "$compose")") docker compose version"
    echo "# the cluster answers inside its network namespace: nsenter --net=$netns_path bash"
    ;;
  *) usage ;;
esac
