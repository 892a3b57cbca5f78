# Helpers for tests of layered clients (docs/fleet.md): an image version
# and a client record in a state directory, laid out as `image import`
# and `client add --root layered` lay them out, built here by hand so a
# test does not depend on provisioning.  Source after netns.sh.

# layered_version STATE IMAGE N ROOT BOOT [PARENT]: version N of IMAGE,
# its layers copies of the trees ROOT and BOOT (a base; a delta over
# version PARENT when given).
layered_version() {
	local v=$1/images/$2/v/$3
	mkdir -p "$v"
	chmod 700 "$1" "$1/images" 2>/dev/null
	cp -a "$4" "$v/root" && cp -a "$5" "$v/boot" || return 1
	if [ -n "${6:-}" ]; then
		printf 'version = %s\nkind = delta\nparent = %s\n' "$3" "$6"
	else
		printf 'version = %s\nkind = base\n' "$3"
	fi >"$v/version.conf"
	[ -f "$1/images/$2/image.conf" ] ||
		printf 'name = %s\n' "$2" >"$1/images/$2/image.conf"
}

# layered_client STATE NAME IMAGE N [KEY=VALUE...]: client NAME on
# version N of IMAGE, with empty client layers whose roots carry the
# version roots' owner and mode, as `client add` makes them, and a
# client.conf with root_mode, image, version and the keys given.
layered_client() {
	local state=$1 name=$2 image=$3 n=$4 c t kv
	shift 4
	c=$state/clients/$name
	mkdir -p "$c/layer/index/root" "$c/layer/index/boot"
	chmod 700 "$state/clients" "$c/layer/index" "$c/layer/index/root" \
		"$c/layer/index/boot"
	for t in root boot; do
		mkdir -p "$c/layer/$t"
		chown --reference="$state/images/$image/v/$n/$t" "$c/layer/$t"
		chmod --reference="$state/images/$image/v/$n/$t" "$c/layer/$t"
	done
	{
		echo "# written by the test, as client add --root layered would"
		echo "name = $name"
		echo "root_mode = layered"
		echo "image = $image"
		echo "version = $n"
		for kv in "$@"; do
			echo "${kv%%=*} = ${kv#*=}"
		done
	} >"$c/client.conf"
}

# layered_view STATE NAME TREE REL: the host path of what client NAME
# sees at REL of its TREE (root or boot), through the layer library.
layered_view() {
	local c=$1/clients/$2 lowers=() n img
	img=$(sed -n 's/^image = //p' "$c/client.conf")
	n=$(sed -n 's/^version = //p' "$c/client.conf")
	while [ -n "$n" ]; do
		lowers+=("$1/images/$img/v/$n/$3")
		n=$(sed -n 's/^parent = //p' "$1/images/$img/v/$n/version.conf")
	done
	"$PNB_TOOLS/layer_view" -u "$c/layer/$3" -w "$c/layer/index/$3" \
		"${lowers[@]}" -- path "$4"
}

# layered_manifest DIR: every object under DIR with its type, mode,
# owner, size, link count, inode, times, extended attributes and content
# hash, one line each, sorted: equal manifests mean nothing changed.
layered_manifest() {
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %n %i %T@ %C@\n' |
		sort | while read -r p rest; do
			h=-
			[ -f "$p" ] && [ ! -L "$p" ] && h=$(md5sum <"$p" | cut -c1-32)
			x=$(getfattr -h -d -m - "$p" 2>/dev/null | md5sum | cut -c1-8)
			echo "$p $rest $h $x"
		done)
}
