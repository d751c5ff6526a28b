"""Uploaded files (issue 13): rows in ``files``, bytes in a storage backend.

* :mod:`samtale.files.storage`: the :class:`~samtale.files.storage.FileStorage` protocol and
  generated storage keys;
* :mod:`samtale.files.local` (the default: a folder under ``Settings.data_dir``) and
  :mod:`samtale.files.s3` (any S3-compatible store) implement it;
  :func:`samtale.files.factory.build_file_storage` picks one from the settings;
* :mod:`samtale.files.service`: ``store_file``, ``load_file``, ``delete_files_of_shopper``… the
  keyword-only functions the rest of samtale calls (the images issue stores its uploads here);
* :mod:`samtale.files.errors`: the domain's exceptions.

The package sits just above ``storage`` in the import layers (pyproject ``[tool.importlinter]``),
so the conversation store, the images domain and the maintenance jobs can all use it.
"""
