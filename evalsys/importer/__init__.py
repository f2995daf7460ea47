"""The import of CSV and Excel files: units, people, terms, courses, sections, tutor groups,
and historical feedback records (``evalsys import DIR`` and ``/admin/import/``).

The importer sits above :mod:`evalsys.org` and :mod:`evalsys.feedback`: one import
writes the rows of both (feedback rows may name sections and people of the same run),
so it uses them and they never use it (tests/test_import_cycles.py checks that).
What both sides need, such as the columns of a feedback sheet that the export writes
and the import reads, lives below, in the area it describes
(:mod:`evalsys.feedback.columns`).

``service`` is the entry point (:func:`~evalsys.importer.service.import_directory`,
:func:`~evalsys.importer.service.import_tables`: read, check everything, then write
all or nothing); ``common`` holds the file layouts and cell parsing, ``snapshot``
the stored rows, ``check`` and ``tree`` the checks, ``apply`` the writes,
``feedback`` the historical feedback file, and ``views`` the upload, preview and
apply pages (templates/importer/).
"""
