"""The demo company that `kpi demo` seeds: profiles, generator and admin login."""
