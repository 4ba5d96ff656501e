#!/usr/bin/env bash
# SLURM integration test: runs the tiny pipeline (tests/slurm_tiny.yaml) once locally and once
# through a throw-away one-node SLURM cluster with workflow/profiles/slurm, then checks that every
# metrics.json under results/victims and results/attacks is identical (timing keys aside) and that
# the jobs really went through SLURM. Then a resume check: a victim-training job cancelled under
# SLURM (scancel mid-epoch) must resume from its checkpoint when the same command is rerun, with
# results identical to an uninterrupted run.
#
#   bash .ci/slurm_test.sh          # exit 0 = PASS or SKIP, 1 = FAIL
#
# Skips (exit 0, "SKIP: <reason>") when not root, when the SLURM/munge Debian packages are missing
# and cannot be installed, or when the project venv is missing.
# Environment:
#   STAA_VENV            project venv (default: .venv in the repo root, as made by `make env`)
#   SLURM_TEST_TARGETS   snakemake targets, space-separated (default: the workflow's default target)
#   SLURM_TEST_EXTRA_ARGS  extra snakemake options for both runs, e.g. "--omit-from report"
#   SLURM_TEST_TIMEOUT   overall bound in seconds (default 1500); each run is bounded too
#   SLURM_TEST_RUN_TIMEOUT  bound per pipeline run in seconds (default 900)
#   SLURM_TEST_NICE      niceness of the whole test (default 10; the CI box may be shared)
#   SLURM_TEST_RESUME    1 (default): run the resume check after the comparison; 0: skip it
#   SLURM_TEST_RESUME_EPOCHS  epochs of the victim whose job gets cancelled (default 600, ~15 ms each
#                        in the tiny config: the job must still be training when the cancel lands)
#   SLURM_TEST_KEEP=1    keep the temp dir (logs, all result trees) instead of deleting it
# Everything it starts (munged, slurmctld, slurmd, the snakemake runs) is stopped by PID on exit,
# also on failure, Ctrl-C or timeout. Nothing is written outside one temp dir (apart from the
# Debian packages, if they had to be installed).
set -euo pipefail

# ---- the whole test is bounded: re-exec under timeout (and nice) ---------------------------------
if [[ -z "${_SLURM_TEST_BOUNDED:-}" ]]; then
    export _SLURM_TEST_BOUNDED=1
    # --foreground: only this script gets the signal; its EXIT trap then stops everything it started.
    exec timeout --foreground --kill-after=60 "${SLURM_TEST_TIMEOUT:-1500}" \
        nice -n "${SLURM_TEST_NICE:-10}" bash "$0" "$@"
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SNAKEFILE="$REPO/workflow/Snakefile"
TINY="$REPO/tests/slurm_tiny.yaml"
PROFILE="$REPO/workflow/profiles/slurm"
PARTITION=debug
RUN_TIMEOUT="${SLURM_TEST_RUN_TIMEOUT:-900}"
read -r -a TARGETS <<<"${SLURM_TEST_TARGETS:-}"
read -r -a EXTRA <<<"${SLURM_TEST_EXTRA_ARGS:-}"

say() { echo "slurm-test: $*"; }
skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "slurm-test: FAIL: $*" >&2; exit 1; }

# ---- 1. preconditions (skip, not fail, where the environment cannot run the test) ---------------
[[ "$(id -u)" -eq 0 ]] || skip "not root (a throw-away SLURM cluster needs root)"

VENV="${STAA_VENV:-$REPO/.venv}"
[[ "$VENV" == /* ]] || VENV="$REPO/$VENV"
for exe in python snakemake staa; do
    [[ -x "$VENV/bin/$exe" ]] || skip "project venv missing or incomplete ($VENV/bin/$exe); run 'make env'"
done
PY="$VENV/bin/python"
"$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || fail "snakemake-executor-plugin-slurm is not installed in $VENV (rerun 'make env')"
# The venv is NOT put on PATH: the rules run the steps with the interpreter that runs Snakemake
# (STAA in workflow/rules/common.smk), and a SLURM job reruns Snakemake with that same interpreter,
# so both runs below also check that no job needs an activated environment.
SNAKEMAKE="$VENV/bin/snakemake"
export MPLBACKEND=Agg

# the static tiny config should still be tests/conftest.py:tiny_config() (warn only: it is what runs)
if ! (cd "$REPO" && PYTHONPATH=src:tests "$PY" -c '
import sys, yaml, conftest
sys.exit(yaml.safe_load(open("tests/slurm_tiny.yaml")) != conftest.tiny_config())' 2>/dev/null); then
    say "WARNING: tests/slurm_tiny.yaml differs from tests/conftest.py:tiny_config(); regenerate it (see its header)"
fi

PKGS=(slurmctld slurmd slurm-client munge)
have_slurm() {
    local c
    for c in slurmctld slurmd sinfo sbatch srun squeue scontrol scancel munged; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
}
if ! have_slurm; then
    command -v apt-get >/dev/null 2>&1 || skip "SLURM not installed and no apt-get to install it"
    say "installing ${PKGS[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 180 apt-get update -qq >/dev/null 2>&1 || skip "apt-get update failed (no package access)"
    timeout 600 apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null 2>&1 \
        || skip "apt-get could not install ${PKGS[*]}"
    have_slurm || skip "SLURM/munge commands still missing after apt-get install"
fi

# ---- cleanup: stop what we started, by PID, on every exit path ------------------------------------
T="$(mktemp -d /tmp/staa-slurm-test.XXXXXX)"
chmod 700 "$T"
MUNGED_PID="" SLURMCTLD_PID="" SLURMD_PID="" STEP_PID="" BG_PID=""

stop_pid() {  # stop_pid PID [group]: TERM, wait up to 15 s, then KILL
    local pid="$1" target="$1" i
    [[ -n "$pid" ]] || return 0
    [[ "${2:-}" == group ]] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || return 0
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL -- "$target" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    # a pipeline run still going (timeout/interrupt): `timeout` leads its own process group
    if [[ -n "$STEP_PID" ]]; then
        say "stopping the running pipeline (pid $STEP_PID)"
        stop_pid "$STEP_PID" group
    fi
    if [[ -n "$BG_PID" ]]; then  # the resume check's run in the background (its own group too)
        say "stopping the background pipeline (pid $BG_PID)"
        stop_pid "$BG_PID" group
    fi
    # cancel whatever is left on our private cluster (all jobs on it are this test's)
    if [[ -n "$SLURMCTLD_PID" ]] && kill -0 "$SLURMCTLD_PID" 2>/dev/null; then
        timeout 10 scancel --quiet --user=root >/dev/null 2>&1
        sleep 1
    fi
    stop_pid "$SLURMD_PID"
    stop_pid "$SLURMCTLD_PID"
    stop_pid "$MUNGED_PID"
    if [[ "${SLURM_TEST_KEEP:-0}" == 1 ]]; then
        say "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "slurm-test: interrupted or timed out" >&2; exit 124' INT TERM

# run_bounded SECONDS LOG CMD...: run in the background (so signals reach our traps at once),
# bounded by timeout, output to LOG
run_bounded() {
    local secs="$1" log="$2" rc=0
    shift 2
    timeout --kill-after=30 "$secs" "$@" >"$log" 2>&1 &
    STEP_PID=$!
    wait "$STEP_PID" || rc=$?
    STEP_PID=""
    return "$rc"
}

# ---- 2. a one-node SLURM cluster in $T ------------------------------------------------------------
mkdir -p "$T/munge" "$T/slurm/state" "$T/slurm/spool"
chmod 700 "$T/munge"
# private munge key + socket: nothing of a system munge is used or changed
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
MUNGE_SOCKET="$T/munge/munge.socket"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CTLD_PORT="$(free_port)"
SLURMD_PORT="$(free_port)"
while [[ "$SLURMD_PORT" == "$CTLD_PORT" ]]; do SLURMD_PORT="$(free_port)"; done

NCPU="$(nproc)"
CPUS=$((NCPU < 2 ? NCPU : 2))
REALMEM="$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)"
[[ -n "$REALMEM" ]] || REALMEM=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))

export SLURM_CONF="$T/slurm/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# throw-away single-node cluster of .ci/slurm_test.sh
ClusterName=staaci
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$T/slurm/state
SlurmdSpoolDir=$T/slurm/spool
SlurmctldPidFile=$T/slurm/slurmctld.pid
SlurmdPidFile=$T/slurm/slurmd.pid
SlurmctldLogFile=$T/slurm/slurmctld.log
SlurmdLogFile=$T/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue (the plugin's status command without accounting) for 1 h
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REALMEM State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

# The plugin's job step (snakemake-executor-plugin-slurm-jobstep) runs each job with `srun` but
# drops every SLURM_* variable from srun's environment, SLURM_CONF included, so srun would not find
# this private cluster's config (a real cluster has /etc/slurm/slurm.conf or configless slurmd).
# A shim first on PATH (jobs inherit PATH) puts SLURM_CONF back; nothing under /etc is touched.
REAL_SRUN="$(command -v srun)"
mkdir -p "$T/bin"
printf '#!/bin/sh\nexport SLURM_CONF=%q\nexec %q "$@"\n' "$SLURM_CONF" "$REAL_SRUN" >"$T/bin/srun"
chmod 755 "$T/bin/srun"
export PATH="$T/bin:$PATH"

say "starting munged, slurmctld, slurmd (conf $SLURM_CONF; node CPUs=$CPUS RealMemory=${REALMEM}MB)"
munged --foreground --force --socket="$MUNGE_SOCKET" --key-file="$T/munge/munge.key" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" \
    --seed-file="$T/munge/munged.seed" >"$T/munge/munged.out" 2>&1 &
MUNGED_PID=$!
for ((i = 0; i < 40; i++)); do [[ -S "$MUNGE_SOCKET" ]] && break; sleep 0.25; done
[[ -S "$MUNGE_SOCKET" ]] || { cat "$T/munge/munged.out" "$T/munge/munged.log" 2>/dev/null; fail "munged did not start"; }

slurmctld -D -c >"$T/slurm/slurmctld.out" 2>&1 &
SLURMCTLD_PID=$!
slurmd -D -N localhost >"$T/slurm/slurmd.out" 2>&1 &
SLURMD_PID=$!

node_state=""
for ((i = 0; i < 120; i++)); do
    node_state="$(timeout 5 sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n1 || true)"
    [[ "$node_state" == idle ]] && break
    kill -0 "$SLURMCTLD_PID" 2>/dev/null && kill -0 "$SLURMD_PID" 2>/dev/null || break
    sleep 0.5
done
if [[ "$node_state" != idle ]]; then
    tail -n 20 "$T/slurm/slurmctld.log" "$T/slurm/slurmd.log" "$T/slurm/"*.out 2>/dev/null
    fail "SLURM node did not become idle (state '${node_state:-none}')"
fi
say "cluster up: partition $PARTITION, node localhost idle"

# ---- 3. the two pipeline runs -----------------------------------------------------------------------
# Overrides for the test cluster, derived from the profile itself so that everything else in it
# (runtimes, retries, status command, ...) is exercised as written: every slurm_partition -> the
# test partition, gpu -> 0 (no GPU here), mem_mb capped at the node's memory, set-threads -> the
# tiny config's run.threads (the node has 2 CPUs, and equal threads keep results comparable).
mapfile -t OVERRIDES < <("$PY" - "$PROFILE/config.yaml" "$TINY" "$PARTITION" "$REALMEM" <<'PYEOF'
import sys
import yaml

profile = yaml.safe_load(open(sys.argv[1]))
threads = int(yaml.safe_load(open(sys.argv[2]))["run"].get("threads", 1))
partition, realmem = sys.argv[3], int(sys.argv[4])


def fix(name, value):
    if name == "slurm_partition":
        return partition
    if name == "gpu":
        return 0
    if name == "mem_mb":
        try:
            if int(eval(str(value), {"__builtins__": {}}, {"attempt": 1})) > realmem:
                return realmem
        except Exception:
            pass
    return value


def flat(value):
    return str(value).replace(" ", "")


args = ["--default-resources"]
args += [f"{k}={flat(fix(k, v))}" for k, v in (profile.get("default-resources") or {}).items()]
if profile.get("set-resources"):
    args.append("--set-resources")
    args += [f"{rule}:{k}={flat(fix(k, v))}"
             for rule, res in profile["set-resources"].items() for k, v in res.items()]
if profile.get("set-threads"):
    args.append("--set-threads")
    args += [f"{rule}={threads}" for rule in profile["set-threads"]]
print("\n".join(args))
PYEOF
)
[[ ${#OVERRIDES[@]} -gt 1 ]] || fail "could not derive the test overrides from $PROFILE/config.yaml"

LOCAL_DIR="$T/local"
SLURM_DIR="$T/slurm-run"
mkdir -p "$LOCAL_DIR" "$SLURM_DIR"
COMMON=("$SNAKEMAKE" -s "$SNAKEFILE" --configfile "$TINY" "${EXTRA[@]}")

LOCAL_CMD=("${COMMON[@]}" --directory "$LOCAL_DIR" --cores 2 "${TARGETS[@]}")
SLURM_CMD=("${COMMON[@]}" --directory "$SLURM_DIR" --workflow-profile "$PROFILE" --jobs 4
    "${OVERRIDES[@]}"
    --slurm-no-account --slurm-keep-successful-logs --slurm-init-seconds-before-status-checks 2
    "${TARGETS[@]}")

show_failure() {  # show_failure LOG RUNDIR: failed rules, their logs, the end of the run log
    local f
    echo "---- failed jobs ----" >&2
    grep -E '^Error in rule |^SLURM-job .* failed|Error executing rule' "$1" | sort | uniq -c | cut -c1-300 >&2
    for f in $(awk '/^Error in rule /{e=1} e && /^    log: /{print $2; e=0}' "$1" | sort -u | head -n 8); do
        [[ -s "$2/$f" ]] && { echo "---- $f ----" >&2; tail -n 15 "$2/$f" | cut -c1-300 >&2; }
    done
    echo "---- last lines of the snakemake log ----" >&2
    tail -n 12 "$1" | cut -c1-300 >&2
    return 0
}

# run_pipeline LABEL LOG RUNDIR HINT CMD...: one bounded pipeline run; on failure show why and fail.
# Sets RUN_S to its wall time in seconds.
run_pipeline() {
    local label=$1 log=$2 dir=$3 hint=$4 t0=$SECONDS rc=0
    shift 4
    say "$label run:"
    printf '  %q' "$@"; echo
    run_bounded "$RUN_TIMEOUT" "$log" "$@" || rc=$?
    RUN_S=$((SECONDS - t0))
    if [[ $rc -ne 0 ]]; then
        show_failure "$log" "$dir"
        ls -R "$dir/.snakemake/slurm_logs" 2>/dev/null | head -n 20 >&2
        fail "$label run failed (rc $rc after ${RUN_S}s)$hint"
    fi
    say "$label run done in ${RUN_S}s"
}

run_pipeline local "$T/local.log" "$LOCAL_DIR" " - a pipeline problem, not a SLURM one" "${LOCAL_CMD[@]}"
LOCAL_S=$RUN_S
run_pipeline SLURM "$T/slurm.log" "$SLURM_DIR" "" "${SLURM_CMD[@]}"
SLURM_S=$RUN_S
say "wall time: local ${LOCAL_S}s, SLURM ${SLURM_S}s"

# ---- 4. identical results (timing keys aside) ------------------------------------------------------
# compare_trees DIR_A DIR_B NAME_A NAME_B FILENAME...: every file called FILENAME (metrics.json, or a
# per-epoch train_log.csv) under results/victims and results/attacks must exist in both trees and
# be identical, timing keys and columns aside; prints one line per file, returns 1 on any problem.
compare_trees() {
    "$PY" - "$@" <<'PYEOF'
import csv
import json
import sys
from pathlib import Path

TIMING = {"seconds_per_utterance", "seconds_per_utterance_median", "victim_seconds_per_utterance_median",
          "throughput_utt_per_s", "device", "threads"}


def timing_key(key):
    return key in TIMING or "seconds" in key


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if not timing_key(k)}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def canon(obj):  # canonical text: NaN == NaN, key order irrelevant
    return json.dumps(obj, sort_keys=True)


def load(path):  # JSON, or a CSV as a list of {column: text} rows
    if path.suffix == ".csv":
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    return json.loads(path.read_text())


root_a, root_b, name_a, name_b = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
filenames = sys.argv[5:]


def diffs(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{path}/{k}: only in {name_b if k in b else name_a} run"
            else:
                yield from diffs(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diffs(x, y, f"{path}[{i}]")
    elif canon(a) != canon(b):
        yield f"{path}: {name_a} {canon(a)[:80]} != {name_b} {canon(b)[:80]}"


def collect(root):
    return {str(p.relative_to(root)) for sub in ("results/victims", "results/attacks")
            for name in filenames for p in (root / sub).rglob(name)}


fa, fb = collect(root_a), collect(root_b)
bad = 0
for rel in sorted(fa ^ fb):
    print(f"  MISSING  {rel} (only in the {name_a if rel in fa else name_b} run)")
    bad += 1
for rel in sorted(fa & fb):
    d = list(diffs(strip(load(root_a / rel)), strip(load(root_b / rel))))
    if d:
        bad += 1
        print(f"  DIFFERS  {rel}")
        for line in d[:10]:
            print(f"           {line}")
    else:
        print(f"  match    {rel}")
if not fa:
    print(f"  no {' / '.join(filenames)} found at all")
    bad += 1
print(f"  {len(fa & fb)} file(s) compared, {bad} problem(s)")
sys.exit(1 if bad else 0)
PYEOF
}

say "comparing metrics.json (results/victims, results/attacks):"
compare_trees "$LOCAL_DIR" "$SLURM_DIR" local SLURM metrics.json \
    || fail "results differ between the local and the SLURM run"

# ---- 5. the jobs really ran on SLURM ------------------------------------------------------------------
# expected: every job of the run except local rules (`all`), as counted in the local run's log
# (a local run prints "localrule X:" for every job; a SLURM run prints "rule X:" for submitted ones)
EXPECTED="$(grep -E '^(local)?(rule|checkpoint) [A-Za-z_0-9]+:$' "$T/local.log" | grep -Evc '^(local)?rule all:$' || true)"
# rules declared `localrules:` in the workflow run on the submitting host: the SLURM run prints
# them as "localrule X:" and does not submit them
LOCAL_IN_SLURM="$(grep -E '^localrule [A-Za-z_0-9]+:$' "$T/slurm.log" | grep -vc '^localrule all:$' || true)"
EXPECTED=$((EXPECTED - LOCAL_IN_SLURM))
SUBMITTED="$(grep -c 'has been submitted with SLURM jobid' "$T/slurm.log" || true)"
LOGS="$(find "$SLURM_DIR/.snakemake/slurm_logs" -name '*.log' 2>/dev/null | wc -l)"
JOBS_TXT="$T/squeue.txt"
timeout 20 squeue --states=all --noheader --format='%i|%T|%P|%l|%C|%m|%k' >"$JOBS_TXT" || true
COMPLETED="$(grep -c '|COMPLETED|' "$JOBS_TXT" || true)"
say "SLURM evidence: $SUBMITTED jobs submitted (expected $EXPECTED; $LOCAL_IN_SLURM local rules ran on the host), $LOGS SLURM job logs, $COMPLETED COMPLETED in squeue"
# per rule: how many jobs, and what SLURM was asked for (from the profile)
awk -F'|' '{ split($7, a, "_wildcards"); r = a[1]; sub(/^rule_/, "", r);
             n[r]++; s[r] = "partition " $3 ", time limit " $4 ", cpus " $5 ", mem " $6 }
           END { for (r in n) printf "  %-16s x%-3d %s\n", r, n[r], s[r] }' "$JOBS_TXT" | sort
[[ "$EXPECTED" -ge 1 ]] || fail "could not count the jobs of the local run"
[[ "$SUBMITTED" -ge "$EXPECTED" ]] || fail "only $SUBMITTED of $EXPECTED jobs were submitted to SLURM"
[[ "$LOGS" -ge "$EXPECTED" ]] || fail "only $LOGS SLURM job logs for $EXPECTED jobs"
[[ "$COMPLETED" -ge "$EXPECTED" ]] || fail "squeue lists only $COMPLETED COMPLETED jobs for $EXPECTED"
# a job run by the main snakemake process itself shows as "localrule X:"; only the rules the
# workflow declares under `localrules:` in workflow/Snakefile may
DECLARED="$(awk '/^localrules:/{f=1; next} f && /^[[:space:]]+[A-Za-z_0-9]+,?[[:space:]]*$/{gsub(/[ ,\t]/, ""); print; next} f{exit}' "$SNAKEFILE")"
[[ -n "$DECLARED" ]] || fail "could not read the localrules block of $SNAKEFILE"
LOCALRULES="$(grep -E '^localrule [A-Za-z_0-9]+:$' "$T/slurm.log" | sed -E 's/^localrule ([A-Za-z_0-9]+):$/\1/' \
    | grep -vxF -f <(echo "$DECLARED") || true)"
[[ -z "$LOCALRULES" ]] || fail "jobs ran outside SLURM: $LOCALRULES"
say "local rules on the submitting host (declared): $(echo "$DECLARED" | grep -v '^all$' | tr '\n' ' ')"

# ---- 6. a training job cancelled under SLURM resumes on rerun -------------------------------------
# A job killed mid-training on a cluster (scancel, preemption, wall time) must resume from its
# per-epoch checkpoint when the workflow is rerun, as after a local kill, and end with the result
# of a run that was never interrupted. One victim, its epochs raised (its own config, built from the
# tiny one) so that its job is still training when it is cancelled; the run uses --retries 0 so that
# the cancel ends it (the profile's retries would resubmit the job at once) and the rerun is the
# very same command. The data are copied from the local run above (not under test here).
RESUME_S=0
if [[ "${SLURM_TEST_RESUME:-1}" == 1 ]]; then
    R_T0=$SECONDS
    R_DS=synth
    R_VICTIM=emo18
    R_EPOCHS="${SLURM_TEST_RESUME_EPOCHS:-600}"
    R_CFG="$T/resume.yaml"
    R_TARGET="results/victims/$R_DS/$R_VICTIM/seed0/metrics.json"
    R_REF_DIR="$T/resume-ref"
    R_SLURM_DIR="$T/resume-slurm"
    R_CKPT="$R_SLURM_DIR/results/victims/$R_DS/$R_VICTIM/seed0/ckpt/last.pt"
    R_JOBLOG="$R_SLURM_DIR/results/logs/train_victim/$R_DS/$R_VICTIM/seed0.log"
    R_COMMENT="rule_train_victim_wildcards_${R_DS}_${R_VICTIM}_0"
    R_RUNLOG="$T/resume-cancel.log"

    "$PY" - "$TINY" "$R_CFG" "$R_DS" "$R_VICTIM" "$R_EPOCHS" <<'PYEOF' || fail "could not write the resume test config"
import sys
import yaml

src, dst, ds, victim, epochs = sys.argv[1:6]
cfg = yaml.safe_load(open(src))
if victim not in cfg["datasets"][ds].get("victims", []):
    sys.exit(f"{victim} is not a victim of {ds} in {src}")
cfg["victims"][victim]["epochs"] = int(epochs)
yaml.safe_dump(cfg, open(dst, "w"), sort_keys=False)
PYEOF
    for d in "$R_REF_DIR" "$R_SLURM_DIR"; do
        mkdir -p "$d/results"
        for sub in corpora data; do
            # cp -a keeps the mtimes, so snakemake takes the copies as up to date
            [[ -d "$LOCAL_DIR/results/$sub/$R_DS" ]] || continue
            mkdir -p "$d/results/$sub"
            cp -a "$LOCAL_DIR/results/$sub/$R_DS" "$d/results/$sub/"
        done
    done
    R_COMMON=("$SNAKEMAKE" -s "$SNAKEFILE" --configfile "$R_CFG" "${EXTRA[@]}")
    R_REF_CMD=("${R_COMMON[@]}" --directory "$R_REF_DIR" --cores 2 "$R_TARGET")
    R_SLURM_CMD=("${R_COMMON[@]}" --directory "$R_SLURM_DIR" --workflow-profile "$PROFILE" --jobs 4
        "${OVERRIDES[@]}"
        --slurm-no-account --slurm-keep-successful-logs --slurm-init-seconds-before-status-checks 2
        --retries 0 "$R_TARGET")

    say "resume check: $R_VICTIM on $R_DS with $R_EPOCHS epochs, cancelled under SLURM, then rerun"

    # resume_fail MSG: the job's own log and the end of the cancelled run's log, then FAIL
    resume_fail() {
        local f
        for f in "$R_JOBLOG" "$R_RUNLOG"; do
            [[ -s "$f" ]] && { echo "---- $f (last lines) ----" >&2; tail -n 12 "$f" | cut -c1-300 >&2; }
        done
        fail "resume check: $*"
    }

    say "resume: SLURM run to be cancelled:"
    printf '  %q' "${R_SLURM_CMD[@]}"; echo
    timeout --kill-after=30 "$RUN_TIMEOUT" "${R_SLURM_CMD[@]}" >"$R_RUNLOG" 2>&1 &
    BG_PID=$!
    # wait (bounded) until the job has written a checkpoint and is still running, then cancel it
    R_JOBID=""
    R_WAIT_T0=$SECONDS
    while ((SECONDS - R_WAIT_T0 < 300)); do
        kill -0 "$BG_PID" 2>/dev/null || break
        if [[ -f "$R_CKPT" ]]; then
            R_JOBID="$(timeout 10 squeue --noheader --states=RUNNING --format='%i|%k' 2>/dev/null \
                | awk -F'|' -v c="$R_COMMENT" '$2 == c {print $1; exit}' || true)"
            [[ -n "$R_JOBID" ]] && break
        fi
        sleep 0.5
    done
    if [[ -z "$R_JOBID" ]]; then
        kill -0 "$BG_PID" 2>/dev/null && stop_pid "$BG_PID" group
        wait "$BG_PID" 2>/dev/null || true
        BG_PID=""
        timeout 10 squeue --noheader --states=all --format='  %i|%T|%k' >&2 || true
        resume_fail "no running $R_COMMENT job with a checkpoint within $((SECONDS - R_WAIT_T0))s" \
            "(the job finished or failed first? raise SLURM_TEST_RESUME_EPOCHS)"
    fi
    R_CANCEL_AT=$((SECONDS - R_T0))
    timeout 20 scancel "$R_JOBID" || resume_fail "scancel $R_JOBID failed"
    say "resume: cancelled SLURM job $R_JOBID ($R_COMMENT) while running, ${R_CANCEL_AT}s into the check"
    R_STOP_T0=$SECONDS
    R_CANCEL_EPOCH="$(date +%s)"
    # snakemake notices the failed job only at its next status check (up to ~30 s here): the
    # reference run, never interrupted, runs meanwhile
    run_pipeline "resume: uninterrupted reference (local)" "$T/resume-ref.log" "$R_REF_DIR" \
        " - a pipeline problem, not a SLURM one" "${R_REF_CMD[@]}"
    # then the cancelled run must stop by itself (non-zero, as it should) within the bound
    while kill -0 "$BG_PID" 2>/dev/null && ((SECONDS - R_STOP_T0 < 240)); do sleep 1; done
    R_RC=0 R_HOW="by itself"
    if kill -0 "$BG_PID" 2>/dev/null; then
        say "resume: the cancelled run did not stop within 240s of the cancel; stopping it"
        stop_pid "$BG_PID" group
        R_HOW="when stopped"
    fi
    wait "$BG_PID" || R_RC=$?
    BG_PID=""
    R_STOP_S=$(($(stat -c %Y "$R_RUNLOG") - R_CANCEL_EPOCH))  # its log's last write
    R_STATE="$(timeout 10 squeue --noheader --states=all --jobs="$R_JOBID" --format='%T' 2>/dev/null || true)"
    R_KILLED_EPOCH="$(sed -nE "s/^\[$R_VICTIM\] epoch ([0-9]+)\/[0-9]+ .*/\1/p" "$R_JOBLOG" 2>/dev/null | tail -n1 || true)"
    say "resume: the cancelled run exited $R_HOW (rc $R_RC, ${R_STOP_S}s after the cancel); SLURM job $R_JOBID is ${R_STATE:-gone from squeue}; its last logged epoch: ${R_KILLED_EPOCH:-none} of $R_EPOCHS"
    [[ "$R_RC" != 0 ]] || resume_fail "snakemake reported success although its job $R_JOBID was cancelled"
    [[ "$R_STATE" == CANCELLED ]] || resume_fail "SLURM job $R_JOBID is '${R_STATE:-gone}', not CANCELLED"
    [[ -n "$R_KILLED_EPOCH" && "$R_KILLED_EPOCH" -lt "$R_EPOCHS" ]] \
        || resume_fail "the job was not cancelled mid-training (last logged epoch '${R_KILLED_EPOCH:-none}' of $R_EPOCHS)"
    [[ ! -e "$R_SLURM_DIR/$R_TARGET" ]] || resume_fail "$R_TARGET exists after the cancelled run"
    cp "$R_JOBLOG" "$T/resume-cancelled-job.log"

    run_pipeline "resume: second SLURM" "$T/resume-rerun.log" "$R_SLURM_DIR" "" "${R_SLURM_CMD[@]}"
    grep -q 'has been submitted with SLURM jobid' "$T/resume-rerun.log" \
        || resume_fail "the rerun submitted no SLURM job"
    R_LINE="$(grep -E "^\[$R_VICTIM\] resumed from .*/ckpt/last\.pt after epoch [0-9]+$" "$R_JOBLOG" | tail -n1 || true)"
    [[ -n "$R_LINE" ]] || resume_fail "the rerun's job log has no '[$R_VICTIM] resumed from .../ckpt/last.pt after epoch N' line"
    R_N="${R_LINE##* }"
    say "resume: the rerun's job log: ${R_LINE#"[$R_VICTIM] "}"
    [[ "$R_N" -ge 1 && "$R_N" -lt "$R_EPOCHS" ]] \
        || resume_fail "resumed after epoch $R_N; expected 1..$((R_EPOCHS - 1)) (cancelled mid-training)"
    # the checkpoint is saved just before an epoch's log line: the last one, not an older one
    [[ "$R_N" -ge "$R_KILLED_EPOCH" ]] \
        || resume_fail "resumed after epoch $R_N, but the cancelled job had logged epoch $R_KILLED_EPOCH"
    say "resume: comparing with the uninterrupted run (metrics.json, per-epoch train_log.csv):"
    compare_trees "$R_REF_DIR" "$R_SLURM_DIR" uninterrupted resumed metrics.json train_log.csv \
        || resume_fail "the resumed run's results differ from the uninterrupted run's"
    RESUME_S=$((SECONDS - R_T0))
    say "resume: PASS in ${RESUME_S}s (cancelled after epoch $R_N of $R_EPOCHS, resumed, identical results)"
fi

say "PASS (local ${LOCAL_S}s, slurm ${SLURM_S}s, resume check ${RESUME_S}s)"
