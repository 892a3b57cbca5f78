#!/usr/bin/env bash
# arm64_pi_image.sh with the Pi on a volatile root (PNB_PI_ROOT), made by
# `client add --root volatile`: it boots its layer over version 1 and
# writes into it; the firmware's next DISCOVER empties the layer but
# for its identity files.
PNB_PI_ROOT=volatile exec bash "$(dirname "$0")/arm64_pi_image.sh"
