# Shared settings of the benchmark scripts (sourced): data size, work folder, release build.
#
# SIZE picks a set: medium (about 2 million flow records and 150,000 CloudTrail events) or large
# (about 20 million and 1 million); WEB and CT set the generator's rates directly. SHAPE picks how
# the evidence is cut into files: aws (AWS's delivery: CloudTrail per account and region every 5
# minutes, flow logs per flow log every 5 or 10), real (the same at an estate's real file count)
# or hourly (few, large files).
SIZE=${SIZE:-medium}
SHAPE=${SHAPE:-aws}
case "$SIZE-$SHAPE" in
  # The real file count spreads the same scale over three days: about 2.1 million records
  # (150,000 CloudTrail events, 18 a file) or 21 million (1 million events, 120 a file).
  large-real) WEB=${WEB:-28000}; CT=${CT:-7000} ;;
  *-real) WEB=${WEB:-2700}; CT=${CT:-860} ;;
  large-*) WEB=${WEB:-37000}; CT=${CT:-10600} ;;
  *) WEB=${WEB:-3700}; CT=${CT:-1600} ;;
esac
# real: AWS's real file count (ten busy account-regions, six flow logs, three days, every file
# every 5 minutes: about 8,600 CloudTrail files and 4,800 flow files at either size).
HOURS=48
REAL=
case "$SHAPE" in
  hourly) MINUTES=60 ;;
  real) MINUTES=5; HOURS=72; REAL=--real-count ;;
  *) MINUTES=5 ;;
esac
WORK=${WORK:-/tmp/trailflow-bench}
DATA="$WORK/data-$WEB-$CT-$MINUTES${REAL:+-real}"
# FEATURES: cargo features to build with (benches/cluster.sh sets `cluster`).
cargo build --release --bins -q ${FEATURES:+--features "$FEATURES"}

# Generate the evidence set of these settings once.
make_data() {
  if [ ! -f "$DATA/ground-truth.json" ]; then
    rm -rf "$DATA"
    target/release/trailflow-gen --out "$DATA" --web-clients "$WEB" --ct-noise "$CT" --file-minutes "$MINUTES" \
      --hours "$HOURS" $REAL >/dev/null
  fi
}
