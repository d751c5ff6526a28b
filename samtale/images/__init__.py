"""Images a shopper sends (issue 14, DESIGN section 12): validation and normalisation
(:mod:`samtale.images.normalise`), acceptance into the file store (:mod:`samtale.images.service`)
and the vision model's description (:mod:`samtale.images.describe`)."""
