# %post: the state directory (so `sudo -u verdict verdict ...` works before the service
# first starts) and systemd told about the unit. The service is neither enabled nor
# started: edit /etc/verdict/verdict.toml, then `systemctl enable --now verdict`.
[ -d /var/lib/verdict ] || install -d -o verdict -g verdict -m 0750 /var/lib/verdict
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
exit 0
