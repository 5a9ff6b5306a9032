"""World simulators (the Faker world and the handbook world), batch datasets and live producers."""
