# Sourced by backup.sh and restore_check.sh: split_password URL sets pg_url (the URL
# without its password) and pg_password (the password, or empty), so that a password is
# handed to libpq in PGPASSWORD rather than on a command line any account can read.
split_password() {
  local parsed
  parsed="$(printf '%s' "$1" | python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.stdin.read())
password = u.unquote(p.password or "")
host = p.hostname or ""
if ":" in host:
    host = "[" + host + "]"
netloc = (u.quote(u.unquote(p.username), safe="") + "@" if p.username else "") + host
if p.port:
    netloc += ":" + str(p.port)
print(u.urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment)))
print("=" + password)  # never empty: a line of its own
')"
  pg_url="${parsed%%$'\n'*}"
  pg_password="${parsed#*$'\n'=}"
}
