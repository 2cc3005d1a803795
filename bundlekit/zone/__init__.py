"""A zone's home: its keys, its state database, its package store; all of bundlekit's state I/O.

Layering: this package sits above ``format`` and ``trust`` and below the workflows
(``export``, ``importer``, ``receipt``, ``deploy``, ``dashboard``); it never imports them.
It is the only place SQL is written (``tests/test_layers.py`` checks both).

The data layer:

* ``db`` - the engine-neutral interface (``Database``, ``Reader``, ``Writer``) and the SQL
  conventions; ``sqlite`` - the SQLite backend; ``postgres`` - the PostgreSQL backend (state
  shared by several nodes); ``schema`` - the migrations, one list for every engine;
  ``location`` - a node's settings (``BUNDLEKIT_STATE``, the package store) and the password;
  ``state_url`` - state URLs, parsed strictly and shown masked;
  ``state`` - opening a home's database; ``join`` - another node of a zone;
  ``migrate_state`` - moving a SQLite state to PostgreSQL, verified.
* Repositories, one per area, each owning its tables. Functions that take a ``Reader``
  read (a ``Database``, a ``read()`` snapshot or a transaction); functions that take a
  ``Writer`` change rows inside their caller's transaction. Functions that take a ``Zone``
  are whole operations that check, then write in their own transaction.

  ==================  ==================================================================
  ``truststore``      trusted zones, their keys, approvers, revocations
  ``rotation``        signing-key rotation statements (issued and applied)
  ``sequences``       outgoing sequence allocation, incoming anti-rollback, import records
  ``exports``         release bundles written, inventories destinations reported
  ``projects``        imported projects (local and base snapshots) and releases
  ``packages``        package records (id, version -> SHA-256)
  ``targets``         deployment targets
  ``deployments``     deployment records and id allocation
  ``outbox``          receipt entries waiting to travel back, receipt files written
  ``remote``          deployments other zones reported in receipts
  ``logs``            compressed deployment logs by digest
  ``secrets``         sensitive values sealed at rest
  ==================  ==================================================================

* ``home`` - the ``Zone`` object (keys, identity, ``zone.db``, ``zone.store``); ``store`` - the
  content-addressed package store (in the home, or a folder every node mounts) and import
  staging (files, not SQL).
"""
