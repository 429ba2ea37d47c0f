# %postun: systemd forgets the old unit; on upgrade a running service restarts on the new binary.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then systemctl try-restart verdict.service >/dev/null 2>&1 || :; fi
fi
exit 0
