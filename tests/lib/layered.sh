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

# layered_dirs_like VER LAYER REL: the directories of REL's parent in
# LAYER, each made with the owner, mode and times of the version's.
layered_dirs_like() {
	local d=${3%/*} part= p
	[ "$d" = "$3" ] && return 0
	for p in ${d//\// }; do
		part=${part:+$part/}$p
		[ -d "$2/$part" ] && continue
		mkdir "$2/$part" || return 1
		chown --reference="$1/$part" "$2/$part"
		chmod --reference="$1/$part" "$2/$part"
		touch -h -r "$1/$part" "$2/$part"
	done
}

# layered_from_copy STATE IMAGE NAME: turn copy client NAME (as `client
# add` made it from IMAGE) into a layered client on version 1 of IMAGE:
# the image's trees become version 1 (moved to v/1 as image versions lay
# them out, unless they are there already), the files `client add`
# changed or added go into the client layer and the ones it removed
# become whiteouts, the record gets root_mode and version, and the copy
# goes.  What `client add --root layered` does, done by hand.
layered_from_copy() {
	local state=$1 img=$2 name=$3 t line a b rel v c
	v=$state/images/$img/v/1
	c=$state/clients/$name
	if [ ! -d "$v" ]; then
		mkdir -p "$v" || return 1
		mv "$state/images/$img/boot" "$state/images/$img/root" "$v/" ||
			return 1
		printf 'version = 1\nkind = base\n' >"$v/version.conf"
	fi
	mkdir -p "$c/layer/index/root" "$c/layer/index/boot"
	chmod 700 "$c/layer/index" "$c/layer/index/root" "$c/layer/index/boot"
	for t in root boot; do
		mkdir -p "$c/layer/$t"
		chown --reference="$v/$t" "$c/layer/$t"
		chmod --reference="$v/$t" "$c/layer/$t"
		diff -rq --no-dereference "$v/$t" "$c/$t" 2>/dev/null |
			while IFS= read -r line; do
				case $line in
				"Files "*" differ")
					a=${line#Files }
					b=${a#* and }
					rel=${b#"$c/$t/"}
					rel=${rel% differ}
					;;
				"Only in $c/$t"*)
					a=${line#Only in }
					rel=${a%%: *}/${a#*: }
					rel=${rel#"$c/$t"}
					rel=${rel#/}
					;;
				"Only in $v/$t"*)
					a=${line#Only in }
					rel=${a%%: *}/${a#*: }
					rel=${rel#"$v/$t"}
					rel=${rel#/}
					layered_dirs_like "$v/$t" "$c/layer/$t" "$rel" &&
						mknod "$c/layer/$t/$rel" c 0 0
					continue
					;;
				*)
					echo "layered_from_copy: $line" >&2
					continue
					;;
				esac
				layered_dirs_like "$v/$t" "$c/layer/$t" "$rel" &&
					cp -a "$c/$t/$rel" "$c/layer/$t/$rel"
			done
	done
	# client add writes root_mode = copy: the key once, with the new mode.
	sed -i '/^root_mode = /d' "$c/client.conf"
	echo "root_mode = layered" >>"$c/client.conf"
	grep -q '^version = ' "$c/client.conf" ||
		echo "version = 1" >>"$c/client.conf"
	rm -rf "${c:?}/boot" "${c:?}/root"
}
