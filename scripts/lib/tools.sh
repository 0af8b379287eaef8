# shellcheck shell=bash
# What the scripts install, and where: source it (from any folder).
#
#   tools_install GROUP       installs a group of scripts/lib/tools.txt into its folder of the cache,
#                             again only when the group's lines (or the python3 or node it was
#                             installed with) change, and prints the folder
#   tools_debian PKG:PROG...  installs with apt-get each Debian package PKG whose program PROG (a
#                             name on PATH or an absolute path) is missing; when not root, says what
#                             to install and fails
#
# The cache is ${XDG_CACHE_HOME:-~/.cache}/ecommerce-rs, one folder per group, named after it,
# except MongoDB's: mongodb-6.0.5 (or $MONGODB_CACHE_DIR), where earlier versions of the scripts
# put it. A PyPI group is installed with `pip install --target`: its packages in the folder, its
# programs in bin/, run with PYTHONPATH set to the folder. An npm group is installed with
# `npm install --prefix`: node_modules/ in the folder. A group is built in a temporary folder that
# takes the old one's place only once complete, its stamp (.pins) written last, under a lock, so an
# interrupted install is redone and two runs at once install it once.

# shellcheck disable=SC2034 # TOOLS_CACHE is for the scripts that source this file
TOOLS_PINS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tools.txt"
readonly TOOLS_PINS
readonly TOOLS_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ecommerce-rs"

# Folders of the cache where earlier versions of the scripts kept a group: removed once the group
# is installed in its own.
declare -A TOOLS_FORMER_DIRS=([schemathesis]=schemathesis-venv [browser]=browser-test [deploy]=deploy-venv)

declare -F log >/dev/null || log() { echo "$(basename "$0"): $*" >&2; }

tools_dir() {
  case "$1" in
    mongodb) echo "${MONGODB_CACHE_DIR:-$TOOLS_CACHE/mongodb-6.0.5}" ;;
    *) echo "$TOOLS_CACHE/$1" ;;
  esac
}

# The group's lines, without the group: REGISTRY REQUIREMENT [OPTIONS].
tools_pins() {
  awk -v group="$1" '$1 == group { $1 = ""; sub(/^ +/, ""); print }' "$TOOLS_PINS"
}

# What a folder's .pins must hold to be current: the pins, and the interpreter they were installed
# for (pip's compiled packages and programs are tied to it).
tools_stamp() { # PINS
  echo "$1"
  if grep -q '^pypi ' <<<"$1"; then
    python3 -c 'import sys; print("python", sys.version.split()[0], sys.executable)' || return 1
  fi
  if grep -q '^npm ' <<<"$1"; then
    echo "node $(node --version)" || return 1
  fi
}

tools_install() { # GROUP
  local group=$1 dir pins stamp lock status=0
  dir=$(tools_dir "$group")
  pins=$(tools_pins "$group")
  [ -n "$pins" ] || { log "no group '$group' in $TOOLS_PINS"; return 1; }
  stamp=$(tools_stamp "$pins") || return 1
  if [ "$(cat "$dir/.pins" 2>/dev/null)" != "$stamp" ]; then
    mkdir -p "$(dirname "$dir")" || return 1
    exec {lock}>"$dir.lock"
    flock "$lock"
    # Another run may have installed it while this one waited for the lock.
    if [ "$(cat "$dir/.pins" 2>/dev/null)" != "$stamp" ]; then
      if tools_adopt "$dir" "$pins"; then
        echo "$stamp" >"$dir/.pins"
      else
        tools_build "$group" "$dir" "$pins" "$stamp" || status=1
      fi
    fi
    exec {lock}>&-
  fi
  [ "$status" = 0 ] && echo "$dir"
}

# A folder from before tools.txt (no stamp) that holds exactly the pinned PyPI packages, some of
# them in a py/ subfolder: kept, with py/ copied up, so that an existing MongoDB cache stays valid.
tools_adopt() { # DIR PINS
  local dir=$1 registry spec name
  [ -d "$dir" ] && [ ! -e "$dir/.pins" ] || return 1
  while read -r registry spec _; do
    [ "$registry" = pypi ] || return 1
    name=${spec%%==*}
    name=${name//-/_}
    compgen -G "$dir/$name-${spec#*==}.dist-info" >/dev/null \
      || compgen -G "$dir/py/$name-${spec#*==}.dist-info" >/dev/null || return 1
  done <<<"$2"
  [ ! -d "$dir/py" ] || cp -a "$dir/py/." "$dir/" || return 1
  log "kept the existing install in $dir"
}

tools_build() { # GROUP DIR PINS STAMP
  local group=$1 dir=$2 pins=$3 stamp=$4 tmp registry spec hashed=() plain=() npm=()
  while read -r registry spec; do
    case "$registry" in
      pypi) if [[ "$spec" == *--hash=* ]]; then hashed+=("$spec"); else plain+=("$spec"); fi ;;
      npm) npm+=("$spec") ;;
      *) log "unknown registry '$registry' in $TOOLS_PINS"; return 1 ;;
    esac
  done <<<"$pins"
  log "installing $group into $dir (once per change of its pins): $(awk '{print $2}' <<<"$pins" | xargs)"
  tmp=$(mktemp -d "$dir.install.XXXXXX") || return 1
  mkdir "$tmp/root"
  if ! tools_fetch "$tmp" "${#hashed[@]}" "${hashed[@]}" "${plain[@]}" -- "${npm[@]}"; then
    rm -rf "$tmp"
    log "could not install $group"
    return 1
  fi
  echo "$stamp" >"$tmp/root/.pins"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
  rm -rf "$tmp"
  if [ -n "${TOOLS_FORMER_DIRS[$group]:-}" ]; then
    rm -rf "${TOOLS_CACHE:?}/${TOOLS_FORMER_DIRS[$group]}"
  fi
}

# Into TMP/root: HASHED_COUNT lines with hashes, each alone (a dependency would need a hash too),
# then the other PyPI lines with their dependencies, then after -- the npm packages.
tools_fetch() { # TMP HASHED_COUNT PYPI... -- NPM...
  local tmp=$1 hashed_count=$2 pypi=() npm=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pypi+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  npm=("$@")
  local pip=(python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore
    --target "$tmp/root")
  if [ "$hashed_count" -gt 0 ]; then
    printf '%s\n' "${pypi[@]:0:$hashed_count}" >"$tmp/requirements.txt"
    "${pip[@]}" --require-hashes --no-deps -r "$tmp/requirements.txt" >&2 || return 1
  fi
  if [ ${#pypi[@]} -gt "$hashed_count" ]; then
    "${pip[@]}" "${pypi[@]:$hashed_count}" >&2 || return 1
  fi
  if [ ${#npm[@]} -gt 0 ]; then
    command -v npm >/dev/null || { log "Node.js with npm is needed: sudo apt-get install nodejs npm"; return 1; }
    echo '{"private": true}' >"$tmp/root/package.json"
    # Playwright's packages would download browsers of their own: the scripts use Debian's.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$tmp/root" --save-exact --no-audit \
      --no-fund --loglevel=error "${npm[@]}" >&2 || return 1
  fi
}

tools_debian() { # PACKAGE:PROGRAM...
  local entry program missing=()
  for entry in "$@"; do
    program=${entry#*:}
    if [[ "$program" == /* ]]; then [ -x "$program" ] && continue; else command -v "$program" >/dev/null && continue; fi
    missing+=("${entry%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] || tools_apt_get "${missing[@]}"
}

# Debian's nginx would start a system nginx on port 80; policy-rc.d (exit 101) in containers
# prevents that, and the scripts never use it.
tools_apt_get() { # PACKAGE...
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "these Debian packages are needed: sudo apt-get install $*"
    return 1
  fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  }
}
