# Sourced by the ci/ scripts. Sets `configs` to the Bazel flags for this
# machine: --config=offline when TASKLEAK_BUILD=offline, or when it is not
# set to online and github.com does not answer within 5 seconds.
configs=()
case "${TASKLEAK_BUILD:-auto}" in
  offline) configs+=(--config=offline) ;;
  online) ;;
  *) timeout 5 bash -c '</dev/tcp/github.com/443' 2>/dev/null ||
       configs+=(--config=offline) ;;
esac
