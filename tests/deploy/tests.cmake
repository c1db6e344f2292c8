# Grafana dashboards, Prometheus configuration and alert rules in deploy/ (included from tests/CMakeLists.txt,
# after find_package(Python3)). promtool comes with Debian's prometheus package (scripts/install-deps).
find_program(PROMTOOL promtool REQUIRED)

# Dashboards and alert rules parse and use only metrics documented in docs/metrics.md.
add_test(NAME deploy_dashboards
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_dashboards.py --repo ${CMAKE_SOURCE_DIR})
# The checker refuses an undocumented metric, broken JSON, ... (on a copy of deploy/ in a temporary folder).
add_test(NAME deploy_dashboards_selftest
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_dashboards_selftest.py
                 --repo ${CMAKE_SOURCE_DIR})
add_test(NAME promtool_check_rules
         COMMAND ${PROMTOOL} check rules ${CMAKE_SOURCE_DIR}/deploy/prometheus/aso-alerts.yml)
# Also checks the rule files the configuration names (relative to the configuration file).
add_test(NAME promtool_check_config
         COMMAND ${PROMTOOL} check config ${CMAKE_SOURCE_DIR}/deploy/prometheus/prometheus.yml)
# Every alert fires where it should and stays quiet where it should (rule_files relative to the test file).
add_test(NAME promtool_test_rules
         COMMAND ${PROMTOOL} test rules ${CMAKE_SOURCE_DIR}/deploy/prometheus/aso-alerts.test.yml
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/prometheus)
set_tests_properties(deploy_dashboards deploy_dashboards_selftest promtool_check_rules promtool_check_config
                     promtool_test_rules PROPERTIES LABELS unit TIMEOUT 120)

# The runtime image's package list (deploy/docker/Dockerfile) matches the libraries the built binaries link.
add_test(NAME image_runtime_packages
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_image_packages.py
                 --repo ${CMAKE_SOURCE_DIR} --build ${CMAKE_BINARY_DIR})
set_tests_properties(image_runtime_packages PROPERTIES LABELS unit TIMEOUT 120)

# The Helm chart (helm/aso): helm lint --strict, helm template with the default and helm/aso/ci/ values,
# every rendered manifest validated offline (kubernetes-models), facts about what it renders, the
# refusal of tests/deploy/helm-bad-values/, and helm/aso/files/ identical to deploy/. The tools (static
# helm, kubernetes-models, yaml) come from scripts/install-helm-tools, which the fixture runs (it does
# nothing when they are already in /var/tmp/aso-helm-tools; otherwise it needs npm, nodejs and unzip).
set(ASO_HELM_TOOLS /var/tmp/aso-helm-tools)
add_test(NAME helm_tools COMMAND ${CMAKE_SOURCE_DIR}/scripts/install-helm-tools ${ASO_HELM_TOOLS})
set_tests_properties(helm_tools PROPERTIES FIXTURES_SETUP helm_tools LABELS unit TIMEOUT 300)
add_test(NAME helm_chart
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_helm.py --repo ${CMAKE_SOURCE_DIR}
                 --tools ${ASO_HELM_TOOLS})
set_tests_properties(helm_chart PROPERTIES FIXTURES_REQUIRED helm_tools LABELS unit TIMEOUT 300)
