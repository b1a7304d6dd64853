"""The HTML report of a saved run: ``mmm_geo.report.build.write_report`` (``mmm-geo report``)."""
