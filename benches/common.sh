# Shared settings of the benchmark scripts (sourced): data size, work folder, release build.
WEB=${WEB:-3700}
CT=${CT:-1600}
WORK=${WORK:-/tmp/trailflow-bench}
DATA="$WORK/data-$WEB-$CT"
cargo build --release --bins -q
