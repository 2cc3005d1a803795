"""Deployment packages (zip, nupkg, tar, tar.gz): safe reading and extraction.

Below both export and deploy (and free of zone state), so the runtime that executes steps
on a target can use it too: ``archive`` opens and checks an archive and reads members in
place; ``extract`` installs one into a folder.
"""
