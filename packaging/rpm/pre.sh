# %pre: the system user and group `verdict` the unit runs as (what
# /usr/lib/sysusers.d/verdict.conf declares), made before the files are laid down.
getent group verdict >/dev/null || groupadd -r verdict
getent passwd verdict >/dev/null || \
    useradd -r -g verdict -d /var/lib/verdict -s /sbin/nologin -c "verdict test-results server" verdict
exit 0
