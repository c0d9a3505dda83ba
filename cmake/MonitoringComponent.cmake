# monitoring_component(): one CMake library per component, linked in one direction.
#
#   monitoring_component(<name>
#     DIRS <src/... folders>            private sources (*.cpp) and private headers
#     HEADERS <include/... paths>       public headers: files or folders under include/
#     SHARED_INTERNAL <src/... headers> private headers that components above may include
#     DEPENDS <components>              lower components (public link, transitively visible)
#     FORBID <prefixes>                 system headers the component must not include
#     PUBLIC_LIBS / PRIVATE_LIBS        third-party targets
#     PC_REQUIRES / PC_LIBS             the same for the component's pkg-config file)
#
# Every call also records the component in MONITORING_COMPONENTS and in the manifest that
# scripts/check-layering.py reads, so the dependency graph is declared once, here.

set(MONITORING_COMPONENTS "" CACHE INTERNAL "")
set(MONITORING_COMPONENT_MANIFEST "" CACHE INTERNAL "")
set(MONITORING_COMPONENT_TARGETS "" CACHE INTERNAL "")

# One .pc file per component (monitoring-<name>.pc; the umbrella is monitoring.pc). The
# libraries are static by default, so each file requires what its component links.
function(monitoring_component_pkg_config name target sources depends requires libs)
  if(name STREQUAL "monitoring")
    set(pc_name monitoring)
  else()
    set(pc_name monitoring-${name})
  endif()
  set(pc_requires ${requires})
  foreach(dep ${depends})
    list(APPEND pc_requires monitoring-${dep})
  endforeach()
  string(REPLACE ";" " " pc_requires "${pc_requires}")
  set(pc_libs "")
  if(sources)
    set(pc_libs "-L\${libdir} -l${target}")
  endif()
  string(REPLACE ";" " " extra_libs "${libs}")
  file(RELATIVE_PATH prefix_from_pcdir "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  file(WRITE ${PROJECT_BINARY_DIR}/pkgconfig/${pc_name}.pc
"# Relative to this file, so the installed tree can be moved (or installed with --prefix).
prefix=\${pcfiledir}/${prefix_from_pcdir}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: ${pc_name}
Description: ${PROJECT_DESCRIPTION} (${name} component)
Version: ${PROJECT_VERSION}
Requires: ${pc_requires}
Cflags: -I\${includedir} -pthread
Libs: ${pc_libs} ${extra_libs} -pthread
")
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${pc_name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

function(monitoring_component name)
  cmake_parse_arguments(C "" "OUTPUT_NAME" "DIRS;HEADERS;SHARED_INTERNAL;DEPENDS;FORBID;PUBLIC_LIBS;PRIVATE_LIBS;PC_REQUIRES;PC_LIBS" ${ARGN})
  set(sources "")
  foreach(dir ${C_DIRS})
    file(GLOB dir_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${dir}/*.cpp)
    list(APPEND sources ${dir_sources})
  endforeach()
  set(target monitoring_${name})
  if(C_OUTPUT_NAME)
    set(target ${C_OUTPUT_NAME})
  endif()
  if(sources)
    add_library(${target} ${sources})
    target_compile_features(${target} PUBLIC cxx_std_20)
    target_compile_options(${target} PRIVATE ${MONITORING_WARNINGS})
    # Our sources use no deprecated Asio names; consumers keep their own choice.
    target_compile_definitions(${target} PRIVATE BOOST_ASIO_NO_DEPRECATED)
    target_include_directories(${target}
      PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      PRIVATE ${PROJECT_SOURCE_DIR}/src)
    set(scope PUBLIC)
    set(private_scope PRIVATE)
    set_target_properties(${target} PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  else()
    add_library(${target} INTERFACE)
    target_compile_features(${target} INTERFACE cxx_std_20)
    target_include_directories(${target}
      INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    set(scope INTERFACE)
    set(private_scope INTERFACE)
  endif()
  add_library(monitoring::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  set(dep_targets "")
  foreach(dep ${C_DEPENDS})
    list(APPEND dep_targets monitoring::${dep})
  endforeach()
  target_link_libraries(${target} ${scope} ${dep_targets} ${C_PUBLIC_LIBS})
  if(C_PRIVATE_LIBS)
    target_link_libraries(${target} ${private_scope} ${C_PRIVATE_LIBS})
  endif()

  set(MONITORING_COMPONENTS ${MONITORING_COMPONENTS} ${name} CACHE INTERNAL "")
  set(MONITORING_COMPONENT_TARGETS ${MONITORING_COMPONENT_TARGETS} ${target} CACHE INTERNAL "")
  monitoring_component_pkg_config(${name} ${target} "${sources}" "${C_DEPENDS}" "${C_PC_REQUIRES}" "${C_PC_LIBS}")
  string(REPLACE ";" "\",\"" j_dirs "${C_DIRS}")
  string(REPLACE ";" "\",\"" j_headers "${C_HEADERS}")
  string(REPLACE ";" "\",\"" j_shared "${C_SHARED_INTERNAL}")
  string(REPLACE ";" "\",\"" j_deps "${C_DEPENDS}")
  string(REPLACE ";" "\",\"" j_forbid "${C_FORBID}")
  set(entry "{\"name\":\"${name}\",\"target\":\"${target}\",\"dirs\":[\"${j_dirs}\"],\"headers\":[\"${j_headers}\"],\"shared_internal\":[\"${j_shared}\"],\"depends\":[\"${j_deps}\"],\"forbid\":[\"${j_forbid}\"]}")
  string(REPLACE "[\"\"]" "[]" entry "${entry}")
  set(MONITORING_COMPONENT_MANIFEST ${MONITORING_COMPONENT_MANIFEST} "${entry}" CACHE INTERNAL "")
endfunction()

# Writes build/monitoring-components.json for scripts/check-layering.py.
function(monitoring_write_component_manifest)
  string(REPLACE ";" ",\n " body "${MONITORING_COMPONENT_MANIFEST}")
  file(WRITE ${PROJECT_BINARY_DIR}/monitoring-components.json "[\n ${body}\n]\n")
endfunction()
