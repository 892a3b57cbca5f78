#!/usr/bin/env bash
# arm64_pi_image.sh with the Pi on a layered root (PNB_PI_ROOT): its
# boot tree over TFTP and its root over NFS merged from its client layer
# over the imported image as version 1.
PNB_PI_ROOT=layered exec bash "$(dirname "$0")/arm64_pi_image.sh"
