"""`cexguard org`: audit many repositories (an organisation) with the history audit, on Dask.

    repos.py   the input: a file of repositories, --dir, GitHub/GitLab enumeration (hosts.py)
    mirror.py  clone --mirror / fetch into the mirror cache (the hardened wrapper's mirror mode)
    tasks.py   the per-repository task (runs on a worker) and the client loop (Dask)
    state.py   SQLite state: refs audited, findings, errors per repository (resumable)
    report.py  one report: incidents deduplicated by fingerprint across repositories

Dask is an optional dependency (`pip install 'cexguard[org]'`), imported only by tasks.py's client
loop; nothing on the hook's path imports this package.
"""
