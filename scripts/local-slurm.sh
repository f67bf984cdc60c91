#!/usr/bin/env bash
# local-slurm.sh - a real one-node SLURM cluster on this machine (localhost),
# for running the workflow through `snakemake --profile profiles/slurm-local`
# on a CI machine or a workstation. See docs/slurm.md.
#
#   scripts/local-slurm.sh start  [--state-dir DIR] [--gpus N] [--cpus N] [--force]
#   scripts/local-slurm.sh stop
#   scripts/local-slurm.sh status
#
# It installs nothing: the packages come from `apt-get install -y slurm-wlm munge`
# (Debian/Ubuntu). It must run as root (the daemons and /etc/slurm need it).
#
# start   writes /etc/slurm/slurm.conf and /etc/slurm/gres.conf (the default path
#         is required: the executor plugin's job step strips SLURM_CONF), creates
#         N fake GPUs (character devices under DIR/dev), starts munged, slurmctld
#         and `slurmd -N localhost`, then waits until `sinfo` reports the node idle.
#         Already running: it only reports. An /etc/slurm/slurm.conf that this
#         script did not write is never overwritten unless --force (it is then
#         backed up to slurm.conf.bak.<date>).
#         A fresh start begins with an empty job list (slurmctld -c).
# stop    cancels all jobs, then stops slurmd, slurmctld, munged (by pid file,
#         SIGTERM, then SIGKILL after 10 s).
# status  prints daemons and `sinfo`; exit 0 when the node answers, 3 otherwise.
#
# Environment: LOCAL_SLURM_START_TIMEOUT (s, default 60), LOCAL_SLURM_KILLWAIT
# (s between the time-limit SIGTERM and SIGKILL, default 5),
# LOCAL_SLURM_MINJOBAGE (s a finished job stays visible to squeue, default 300).
set -euo pipefail

MARKER="# Written by dstl_hpc scripts/local-slurm.sh - safe to overwrite"
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
GRES_CONF=$CONF_DIR/gres.conf
MUNGE_RUN=/run/munge
MUNGE_PID=$MUNGE_RUN/munged.pid
STATE_DIR=${LOCAL_SLURM_STATE_DIR:-/var/lib/local-slurm}
NGPUS=1
NCPUS=""
FORCE=0
START_TIMEOUT=${LOCAL_SLURM_START_TIMEOUT:-60}
KILLWAIT=${LOCAL_SLURM_KILLWAIT:-5}
MINJOBAGE=${LOCAL_SLURM_MINJOBAGE:-300}

say() { echo "local-slurm: $*"; }
die() { echo "local-slurm: error: $*" >&2; exit 1; }

usage() {
    sed -n '6,8p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

# ---------------------------------------------------------------- helpers
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (daemons and $CONF_DIR)"; }

check_binaries() {
    local missing=()
    for b in munged munge unmunge slurmctld slurmd slurmstepd sinfo sbatch squeue scontrol srun; do
        command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        die "missing ${missing[*]}; install them with: apt-get install -y slurm-wlm munge"
    fi
}

bin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

# value of KEY= in our slurm.conf (empty if none)
conf_value() {
    [ -f "$CONF" ] || return 0
    sed -n "s/^$1=\\([^ ]*\\).*/\\1/p" "$CONF" | tail -n 1
}

# pid from a pid file if that process is alive
live_pid() {
    local f=$1 pid
    [ -n "$f" ] && [ -f "$f" ] || return 1
    pid=$(tr -dc '0-9' <"$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

node_state() { timeout 5 sinfo -h -N -o %t 2>/dev/null | head -n 1 || true; }

tail_logs() {
    local d
    d=$(conf_value SlurmctldLogFile); d=${d%/*}
    for f in "$d/slurmctld.log" "$d/slurmd.log" /var/log/munge/munged.log; do
        [ -f "$f" ] || continue
        echo "---- last lines of $f" >&2
        tail -n 20 "$f" >&2
    done
}

state_dir() { local d; d=$(conf_value StateSaveLocation); echo "${d%/ctld}"; }

ours() { [ -f "$1" ] && head -n 1 "$1" | grep -qF "$MARKER"; }

# ---------------------------------------------------------------- config
write_configs() {
    local cpus mem_mib real_mem gres_line i
    cpus=${NCPUS:-$(nproc)}
    mem_mib=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
    real_mem=$(( mem_mib > 2048 ? mem_mib - 1024 : mem_mib / 2 ))

    mkdir -p "$CONF_DIR"
    for f in "$CONF" "$GRES_CONF"; do
        if [ -e "$f" ] && ! ours "$f"; then
            if [ "$FORCE" = 1 ]; then
                local bak
                bak="$f.bak.$(date +%Y%m%d-%H%M%S)"
                cp -p "$f" "$bak"
                say "backed up existing $f to $bak"
            else
                die "$f exists and was not written by this script; refusing to overwrite it (rerun with --force to back it up to $f.bak.<date> and replace it)"
            fi
        fi
    done

    mkdir -p "$STATE_DIR"/{ctld,d,run,log,dev}
    gres_line=""
    if [ "$NGPUS" -gt 0 ]; then
        gres_line="Gres=gpu:fake:$NGPUS"
        {
            echo "$MARKER"
            echo "AutoDetect=off"
        } >"$GRES_CONF.tmp"
        for ((i = 0; i < NGPUS; i++)); do
            # gres.conf wants a character device; 1,3 is the same device as /dev/null
            [ -c "$STATE_DIR/dev/nvidia$i" ] || { rm -f "$STATE_DIR/dev/nvidia$i"; mknod "$STATE_DIR/dev/nvidia$i" c 1 3; }
        done
        if [ "$NGPUS" -eq 1 ]; then
            echo "NodeName=localhost Name=gpu Type=fake File=$STATE_DIR/dev/nvidia0" >>"$GRES_CONF.tmp"
        else
            echo "NodeName=localhost Name=gpu Type=fake File=$STATE_DIR/dev/nvidia[0-$((NGPUS - 1))]" >>"$GRES_CONF.tmp"
        fi
        mv "$GRES_CONF.tmp" "$GRES_CONF"
    else
        printf '%s\nAutoDetect=off\n' "$MARKER" >"$GRES_CONF"
    fi

    cat >"$CONF.tmp" <<EOF
$MARKER
# One-node cluster on localhost (state: $STATE_DIR). Stop it with
# scripts/local-slurm.sh stop; start rewrites this file.
ClusterName=local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
# Finished jobs stay visible to squeue this long; the executor plugin needs
# MinJobAge >= 3 x slurm-init-seconds-before-status-checks to use squeue.
MinJobAge=$MINJOBAGE
# Seconds between the time-limit SIGTERM and SIGKILL (default 30).
KillWait=$KILLWAIT
OverTimeLimit=0
# Let the node declare CPUs/memory/GPUs it does not have (fake GPUs).
SlurmdParameters=config_overrides
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem $gres_line State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    say "wrote $CONF (CPUs=$cpus RealMemory=$real_mem GPUs=$NGPUS) and $GRES_CONF"
}

# ---------------------------------------------------------------- daemons
start_munge() {
    if live_pid "$MUNGE_PID" >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munged already running (pid $(live_pid "$MUNGE_PID"))"
        return
    fi
    [ -f /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing (reinstall munge, or create it with mungekey)"
    mkdir -p "$MUNGE_RUN" /var/log/munge /var/lib/munge
    chown munge:munge "$MUNGE_RUN" /var/log/munge /var/lib/munge
    chmod 755 "$MUNGE_RUN"   # munged refuses other modes
    rm -f "$MUNGE_PID"
    runuser -u munge -- "$(bin munged)" || { tail_logs; die "munged failed to start"; }
    local i
    for ((i = 0; i < 50; i++)); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && { say "munged started"; return; }
        sleep 0.1
    done
    tail_logs
    die "munged started but 'munge -n | unmunge' fails"
}

start_daemon() {  # name pidfile cmd...
    local name=$1 pidfile=$2; shift 2
    if live_pid "$pidfile" >/dev/null; then
        say "$name already running (pid $(live_pid "$pidfile"))"
        return
    fi
    "$@" || { tail_logs; die "$name failed to start"; }
    say "$name started"
}

wait_idle() {
    local deadline=$((SECONDS + START_TIMEOUT)) st=""
    while [ $SECONDS -lt $deadline ]; do
        st=$(node_state)
        case "$st" in
            idle|mix|alloc|comp) say "node localhost is $st"; return 0 ;;
            drain*|down*|drng*)
                timeout 5 scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    tail_logs
    die "node did not become idle within ${START_TIMEOUT}s (last sinfo state: '${st:-no answer}')"
}

cmd_start() {
    need_root
    check_binaries
    local ctld_pid d_pid
    if [ -f "$CONF" ] && ours "$CONF"; then
        ctld_pid=$(live_pid "$(conf_value SlurmctldPidFile)" || true)
        d_pid=$(live_pid "$(conf_value SlurmdPidFile)" || true)
        if [ -n "$ctld_pid" ] && [ -n "$d_pid" ]; then
            say "already running (slurmctld pid $ctld_pid, slurmd pid $d_pid); state dir $(state_dir)"
            start_munge
            wait_idle
            return 0
        fi
        if [ -n "$ctld_pid" ] || [ -n "$d_pid" ]; then
            say "partly running; stopping it first"
            cmd_stop
        fi
    fi
    write_configs
    start_munge
    # -c: start from a clean state (no jobs of an earlier run)
    start_daemon slurmctld "$STATE_DIR/run/slurmctld.pid" "$(bin slurmctld)" -c
    start_daemon slurmd "$STATE_DIR/run/slurmd.pid" "$(bin slurmd)" -N localhost
    wait_idle
    say "ready: sbatch/srun/squeue work; stop with $0 stop"
}

stop_pidfile() {  # name pidfile
    local name=$1 pidfile=$2 pid i
    pid=$(live_pid "$pidfile" || true)
    if [ -z "$pid" ]; then
        say "$name not running"
        rm -f "$pidfile"
        return
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do   # 10 s
        kill -0 "$pid" 2>/dev/null || { say "$name stopped (pid $pid)"; rm -f "$pidfile"; return; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
    rm -f "$pidfile"
    say "$name killed with SIGKILL (pid $pid)"
}

cancel_jobs() {
    # Jobs would otherwise outlive the daemons (their slurmstepd keeps running)
    # and come back requeued on the next start.
    local ids i
    live_pid "$(conf_value SlurmctldPidFile)" >/dev/null || return 0
    ids=$(timeout 5 squeue -h -o %i 2>/dev/null | tr '\n' ' ' || true)
    [ -n "${ids// /}" ] || return 0
    say "cancelling jobs: $ids"
    # shellcheck disable=SC2086
    timeout 10 scancel $ids 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do   # up to 10 s for them to end
        [ -z "$(timeout 5 squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
        sleep 0.1
    done
}

cmd_stop() {
    need_root
    if [ -f "$CONF" ] && ! ours "$CONF"; then
        die "$CONF was not written by this script; not stopping a cluster it does not own"
    fi
    cancel_jobs
    stop_pidfile slurmd "$(conf_value SlurmdPidFile)"
    stop_pidfile slurmctld "$(conf_value SlurmctldPidFile)"
    stop_pidfile munged "$MUNGE_PID"
}

cmd_status() {
    local rc=0 p
    if [ -f "$CONF" ] && ours "$CONF"; then
        echo "config: $CONF (written by this script; state dir $(state_dir))"
    elif [ -f "$CONF" ]; then
        echo "config: $CONF (NOT written by this script)"
    else
        echo "config: none"
    fi
    for pair in "munged:$MUNGE_PID" "slurmctld:$(conf_value SlurmctldPidFile)" "slurmd:$(conf_value SlurmdPidFile)"; do
        p=$(live_pid "${pair#*:}" || true)
        if [ -n "$p" ]; then echo "${pair%%:*}: running (pid $p)"; else echo "${pair%%:*}: not running"; rc=3; fi
    done
    if [ $rc = 0 ]; then
        timeout 5 sinfo -N -o '%N %t %c %m %G' 2>&1 || rc=3
    fi
    return $rc
}

# ---------------------------------------------------------------- main
[ $# -ge 1 ] || usage
ACTION=$1; shift
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) STATE_DIR=${2:?--state-dir needs a directory}; shift 2 ;;
        --state-dir=*) STATE_DIR=${1#*=}; shift ;;
        --gpus) NGPUS=${2:?--gpus needs a number}; shift 2 ;;
        --gpus=*) NGPUS=${1#*=}; shift ;;
        --cpus) NCPUS=${2:?--cpus needs a number}; shift 2 ;;
        --cpus=*) NCPUS=${1#*=}; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "local-slurm: unknown option $1" >&2; usage ;;
    esac
done
[[ "$NGPUS" =~ ^[0-9]+$ ]] || die "--gpus wants a whole number"
[ -z "$NCPUS" ] || [[ "$NCPUS" =~ ^[1-9][0-9]*$ ]] || die "--cpus wants a positive whole number"
case "$STATE_DIR" in /*) ;; *) STATE_DIR=$PWD/$STATE_DIR ;; esac

case "$ACTION" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h|--help|help) usage 0 ;;
    *) echo "local-slurm: unknown action $ACTION" >&2; usage ;;
esac
