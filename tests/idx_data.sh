# shellcheck shell=bash
# Sourced by the vae-train test scripts: idx_file ROWS SEED writes to
# standard output an IDX file of ROWS 8x8 byte images, each pixel 255 with
# probability 0.9 or 0.1 by a pattern that shifts with the row (else 1).
idx_file() {
  local rows=$1 seed=$2
  # The magic of unsigned bytes in 3 dimensions, then the dimensions rows x 8 x 8,
  # each a big-endian 32-bit integer.
  printf '%b' "$(printf '\\x%02x' 0 0 8 3 $((rows >> 24 & 255)) $((rows >> 16 & 255)) \
    $((rows >> 8 & 255)) $((rows & 255)) 0 0 0 8 0 0 0 8)"
  LC_ALL=C awk -v rows="$rows" -v seed="$seed" 'BEGIN {
    srand(seed)
    for (i = 0; i < rows; ++i)
      for (j = 0; j < 64; ++j)
        printf "%c", (rand() < ((j + 8 * (i % 8)) % 64 < 32 ? 0.9 : 0.1) ? 255 : 1)
  }'
}

# idx_labels ROWS CLASSES writes to standard output an IDX file of ROWS
# one-byte class labels, row i's label i % CLASSES.
idx_labels() {
  local rows=$1 classes=$2
  # The magic of unsigned bytes in 1 dimension, then rows as a big-endian 32-bit integer.
  printf '%b' "$(printf '\\x%02x' 0 0 8 1 $((rows >> 24 & 255)) $((rows >> 16 & 255)) \
    $((rows >> 8 & 255)) $((rows & 255)))"
  # printf's escapes, since not every awk writes a NUL byte for label 0.
  local i byte escapes=
  for ((i = 0; i < rows; ++i)); do
    printf -v byte '\\x%02x' $((i % classes))
    escapes+=$byte
  done
  printf '%b' "$escapes"
}
