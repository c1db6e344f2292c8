print("e2e placeholder")
