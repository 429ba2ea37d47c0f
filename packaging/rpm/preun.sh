# %preun: on erase (not upgrade: $1 is then 1), stop and disable the service. The store in
# /var/lib/verdict and the user are kept: results are data, not package state.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now verdict.service >/dev/null 2>&1 || :
fi
exit 0
