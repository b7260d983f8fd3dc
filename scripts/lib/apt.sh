# apt_install PACKAGE... installs Debian packages with apt-get, through sudo
# when not root, or explains what to install by hand where apt-get is missing
# (naming WHAT, the first argument of the message). Sourced by the ensure-*
# scripts.
apt_install() {
  local what=$1
  shift
  if ! command -v apt-get >/dev/null; then
    echo "apt-get is not available: install $what" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
