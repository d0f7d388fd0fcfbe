# Shared by the bench scripts.

# write_section NAME TEXT: puts TEXT (which starts and ends with the NAME markers) into
# bench/RESULTS.md, replacing that section if it is there.
write_section() {
  local name=$1 section=$2 results=bench/RESULTS.md
  [ -f "$results" ] || printf '# Benchmark results\n\nEach section is rewritten by the script that names it.\n' > "$results"
  if grep -q "<!-- $name:begin -->" "$results"; then
    python3 - "$results" "$name" "$section" <<'PY'
import re, sys
path, name, section = sys.argv[1:4]
text = open(path).read()
pattern = r"<!-- %s:begin -->.*?<!-- %s:end -->" % (name, name)
open(path, "w").write(re.sub(pattern, lambda _: section, text, flags=re.S))
PY
  else
    printf '\n%s\n' "$section" >> "$results"
  fi
  echo "==> wrote $results"
}
